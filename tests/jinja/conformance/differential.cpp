// Differential check against @huggingface/jinja: renders every random template that
// differential.mjs wrote and compares with the reference's text (or requires a mimo::Error
// where the reference threw). Prints the first mismatches; exit 1 on any.
// usage: mimo_jinja_differential CASES.json
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "jinja/template.hpp"
#include "mimo/error.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CASES.json\n", argv[0]);
    return 2;
  }
  std::ifstream file(argv[1], std::ios::binary);
  const auto all = nlohmann::ordered_json::parse(file);
  int mismatches = 0;
  for (const auto& c : all["cases"]) {
    std::string got;
    std::string error;
    try {
      got = mimo::jinja::Template(c["src"].get<std::string>(), "random").render(all["context"]);
    } catch (const mimo::Error& e) {
      error = e.what();
    }
    const bool same =
        c.contains("error") ? !error.empty() : error.empty() && got == c["text"].get<std::string>();
    if (same) continue;
    if (++mismatches <= 10) {
      std::printf(
          "MISMATCH %s\n  reference %s\n  mimo      %s\n", c["src"].dump().c_str(),
          c.contains("error") ? ("error " + c["error"].dump()).c_str() : c["text"].dump().c_str(),
          error.empty() ? nlohmann::ordered_json(got).dump().c_str() : error.c_str());
    }
  }
  std::printf("differential: %zu templates, %d mismatches\n", all["cases"].size(), mismatches);
  return mismatches == 0 ? 0 : 1;
}
