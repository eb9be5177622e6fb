// The Jinja engine on small templates: whitespace control, loops, macros, namespaces, filters,
// tests, errors with line and column, and the bounds that keep hostile templates harmless.
#include <string>

#include "jinja/template.hpp"
#include "mimo/error.hpp"
#include "support/catch.hpp"

namespace {

using nlohmann::ordered_json;

std::string render(const std::string& source,
                   const ordered_json& context = ordered_json::object()) {
  return mimo::jinja::Template(source, "t").render(context);
}

// The mimo::Error message of rendering (or parsing) `source`, checking its code.
std::string failure(const std::string& source, mimo::ErrorCode code,
                    const mimo::jinja::Limits& limits = {}) {
  try {
    mimo::jinja::Template(source, "t", limits).render(ordered_json::object());
  } catch (const mimo::Error& e) {
    CHECK(e.code() == code);
    return e.what();
  }
  FAIL("expected a mimo::Error for " << source);
  return {};
}

}  // namespace

TEST_CASE("whitespace control follows transformers (trim_blocks, lstrip_blocks, - markers)") {
  CHECK(render("a\n  {% if true %}\nb\n  {% endif %}\nc\n") == "a\nb\nc");
  CHECK(render("a  {{- 'b' -}}  c") == "abc");
  CHECK(render("a {#- note -#} b") == "ab");
  CHECK(render("{% generation %}x{% endgeneration %}") == "x");
}

TEST_CASE("for loops expose loop.* and support else, filters, unpacking, break and continue") {
  CHECK(render("{% for x in [10, 20, 30] %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}"
               "{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}") ==
        "013truefalse3;122falsefalse3;231falsetrue3;");
  CHECK(render("{% for x in [] %}x{% else %}empty{% endfor %}") == "empty");
  CHECK(render("{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ x }}{{ loop.length }}{% endfor %}") ==
        "2242");
  CHECK(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}") ==
        "a=1,b=2,");
  CHECK(render("{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}"
               "{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}") == "02");
  CHECK(render("{% for key in {'b': 1, 'a': 2} %}{{ key }}{% endfor %}") == "ba");
}

TEST_CASE("set, namespaces and block set") {
  CHECK(render("{% set ns = namespace(n=0) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}"
               "{% endfor %}{{ ns.n }}") == "6");
  // A plain set inside a loop does not leak out of it.
  CHECK(render("{% set n = 1 %}{% for x in [1] %}{% set n = 5 %}{% endfor %}{{ n }}") == "1");
  CHECK(render("{% set a, b = [1, 'x'] %}{{ b }}{{ a }}") == "x1");
  CHECK(render("{% set text %}hello {{ 'world' }}{% endset %}{{ text | upper }}") == "HELLO WORLD");
}

TEST_CASE("macros with defaults, keyword arguments and call blocks") {
  CHECK(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
               "{{ greet('Ann') }} {{ greet('Bo', punct='?') }}") == "Hi Ann! Hi Bo?");
  CHECK(render("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
               "{% call wrap('b') %}bold{% endcall %}") == "<b>bold</b>");
  CHECK(render("{% macro m() %}{{ kwargs.x }}{{ varargs | length }}{% endmacro %}"
               "{{ m(1, 2, x='k') }}") == "k2");
  CHECK(render("{% filter upper %}loud{% endfilter %}") == "LOUD");
}

TEST_CASE("expressions: literals, members, slices, operators, tests, ternaries") {
  const ordered_json ctx = {{"m", {{"role", "user"}, {"content", "Hi there"}}},
                            {"xs", {1, 2, 3, 4, 5}}};
  CHECK(render("{{ m.role }}{{ m['content'][0] }}{{ m.content[-5:] }}", ctx) == "userHthere");
  CHECK(render("{{ xs[1:4] }}{{ xs[::-2] }}{{ xs | length }}", ctx) == "[2, 3, 4][5, 3, 1]5");
  CHECK(render("{{ 7 // 2 }} {{ 7 / 2 }} {{ 7 % 3 }} {{ 2 ** 3 }} {{ 1.0 + 1 }} {{ -3 }}") ==
        "3 3.5 1 8 2.0 -3");
  // ~ joins the plain JS values: the float 2.0 becomes "2" there, not "2.0" as when printed.
  CHECK(render("{{ 'a' ~ 1 ~ 2.0 }}{{ 'x' in 'xyz' }}{{ 3 not in [1, 2] }}") == "a12truetrue");
  CHECK(failure("{{ 'a' ~ none }}", mimo::ErrorCode::kInvalidArgument).find("null") !=
        std::string::npos);
  CHECK(render("{{ 'yes' if xs else 'no' }}{{ 'never' if false }}", ctx) == "yes");
  CHECK(render("{{ m is mapping }}{{ xs is iterable }}{{ q is defined }}{{ none is none }}"
               "{{ 1 is number }}{{ 'a' is string }}{{ true is boolean }}{{ m is not string }}",
               ctx) == "truetruefalsetruetruetruetruetrue");
  CHECK(render("{{ not true or (1 < 2 and 2 >= 2) }}") == "true");
  // JS loose equality: a list against a primitive compares as its string, [] == "" == false.
  CHECK(
      render("{{ [] == false }}{{ [1, 2] == '1,2' }}{{ none == undefined_name }}{{ 1 == '1' }}") ==
      "truetruetruetrue");
  // none wraps a JS undefined in the reference; first / last of [] is a bare undefined that only
  // a macro argument (as not given) or set (as undefined) accepts.
  CHECK(render("{{ 1 ~ [none] }}|{{ ['a', none] | join('-') }}|{% macro m(a='d') %}{{ a }}"
               "{% endmacro %}{{ m([] | last) }}|{% set v = [] | last %}{{ v is defined }}") ==
        "1undefined|a-|d|false");
  CHECK(failure("{{ [] | first }}", mimo::ErrorCode::kInvalidArgument).find("empty") !=
        std::string::npos);
  // Tuples are lists, except that the reference cannot print them or call them iterable.
  CHECK(render("{{ (1, 2) | length }}{{ (1, 2) is iterable }}{{ 2 in (1, 2) }}") == "2falsetrue");
  CHECK(failure("{{ (1, 2) }}", mimo::ErrorCode::kInvalidArgument).find("TupleValue") !=
        std::string::npos);
  CHECK(render("{{ {'a': [1, {'b': none}]} }}") == "{\"a\": [1, {\"b\": null}]}");
}

TEST_CASE("filters and methods as @huggingface/jinja defines them") {
  const ordered_json ctx = {
      {"tools", {{{"name", "b"}, {"on", true}}, {{"name", "a"}, {"on", false}}}},
      {"d", {{"z", 1}, {"é", "ü"}}}};
  CHECK(render("{{ d | tojson }}|{{ d | tojson(indent=2) }}", ctx) ==
        "{\"z\": 1, \"é\": \"ü\"}|{\n  \"z\": 1,\n  \"é\": \"ü\"\n}");
  CHECK(render("{{ d | tojson(ensure_ascii=true, separators=(',', ':')) }}", ctx) ==
        "{\"z\":1,\"\\u00e9\":\"\\u00fc\"}");
  CHECK(render("{{ tools | map(attribute='name') | join(', ') }}", ctx) == "b, a");
  CHECK(render("{{ tools | selectattr('on') | list | length }}"
               "{{ tools | rejectattr('name', 'equalto', 'b') | map(attribute='name') | first }}",
               ctx) == "1a");
  CHECK(render("{{ tools | sort(attribute='name') | map(attribute='name') | join }}", ctx) == "ab");
  CHECK(render("{{ d | dictsort | first | first }}{{ d.get('q', 'dflt') }}{{ d.keys() | list }}",
               ctx) == "zdflt[\"z\", \"é\"]");
  CHECK(render("{{ '  a b  ' | trim }}|{{ ' x '.strip() }}|{{ 'a,b,,c'.split(',') }}|"
               "{{ 'hello world'.title() }}|{{ 'abc'.replace('b', 'B') }}|{{ 'x' | default('d') }}"
               "|{{ undefined_thing | default('d') }}|{{ 'ab'.startswith(('x', 'a')) }}") ==
        "a b|x|[\"a\", \"b\", \"\", \"c\"]|Hello World|aBc|x|d|true");
  // select / reject and the `in` test come from Python Jinja (the reference lacks them).
  CHECK(
      render("{{ ['type', 'x', 'enum', 'y'] | reject('in', ['type', 'enum']) | join(',') }}"
             "{{ [0, 1, '', 'a'] | select | length }}{{ ['a', 1] | select('string') | first }}") ==
      "x,y2a");
  // Lengths in UTF-16 units as JS counts them (the emoji counts 2), slices in code points.
  CHECK(render("{{ s | length }}{{ s[1:] }}", {{"s", "h\u00e9\U0001F600"}}) == "4\u00e9\U0001F600");
  CHECK(render("{{ ' -12abc' | int }} {{ 'x' | int(7) }} {{ '99999999999999999999' | int }} "
               "{{ '2.5e1x' | float }}") == "-12 7 100000000000000000000 25.0");
  CHECK(render("{{ '\u00fc\u00df' | upper }}{{ '\u00c9T\u00c9' | lower }}{{ 'caf\u00e9 bar' | "
               "title }}") == "\u00dcSS\u00e9t\u00e9Caf\u00e9 Bar");
  CHECK(render("{{ '42' | int + 1 }} {{ 2.5 | int }} {{ 3 | float }} {{ [1, 1, 2] | unique | "
               "length }} {{ -2 | abs }}") == "43 2 3.0 2 2");
}

TEST_CASE("raise_exception and runtime errors name the template line and column") {
  const std::string raised =
      failure("line 1\n{{ raise_exception('bad role') }}", mimo::ErrorCode::kInvalidArgument);
  CHECK(raised.find("t:2:4:") == 0);
  CHECK(raised.find("bad role") != std::string::npos);
  const std::string type_error =
      failure("{{ 'a' }}\n\n  {{ 1 + [2] }}", mimo::ErrorCode::kInvalidArgument);
  CHECK(type_error.find("t:3:8:") == 0);
  const std::string unknown = failure("{{ 'x' | nosuch }}", mimo::ErrorCode::kInvalidArgument);
  CHECK(unknown.find("nosuch") != std::string::npos);
}

TEST_CASE("malformed or unsupported templates fail to parse with line and column") {
  CHECK(failure("{{ 'unterminated }}", mimo::ErrorCode::kUnsupported).find("t:1:") == 0);
  CHECK(failure("{% if x %}never closed", mimo::ErrorCode::kUnsupported).find("endif") !=
        std::string::npos);
  CHECK(failure("a\n{% extends 'base' %}", mimo::ErrorCode::kUnsupported).find("t:2:4:") == 0);
  CHECK(failure("{{ a b }}", mimo::ErrorCode::kUnsupported).find("t:1:6:") == 0);
  CHECK(failure("{{ 1 + }}", mimo::ErrorCode::kUnsupported).size() > 0);
}

TEST_CASE("a loop nesting values a million deep frees them without overflowing the stack") {
  using mimo::ErrorCode;
  const std::string nest = "{% set ns = namespace(x=none) %}{% for i in range(1000000) %}";
  CHECK(render(nest + "{% set ns.x = [ns.x, {'k': [ns.x]}] %}{% endfor %}done") == "done");
  CHECK(render(nest + "{% set ns.x = {'a': ns.x} %}{% endfor %}done") == "done");
  CHECK(failure(nest + "{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}", ErrorCode::kOutOfRange)
            .find("nested more than 512") != std::string::npos);
}

TEST_CASE("hostile templates hit a bound, not a crash or a hang") {
  using mimo::ErrorCode;
  CHECK(failure("{{" + std::string(5000, '(') + "1" + std::string(5000, ')') + "}}",
                ErrorCode::kOutOfRange)
            .find("nested") != std::string::npos);
  CHECK(
      failure("{{" + std::string(5000, '[') + std::string(5000, ']') + "}}", ErrorCode::kOutOfRange)
          .size() > 0);
  CHECK(failure("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", ErrorCode::kOutOfRange)
            .find("nested") != std::string::npos);
  CHECK(failure("{% for i in range(100000000) %}{% endfor %}", ErrorCode::kOutOfRange).size() > 0);
  mimo::jinja::Limits small;
  small.max_steps = 10000;
  CHECK(failure("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
                ErrorCode::kOutOfRange, small)
            .find("steps") != std::string::npos);
  CHECK(failure("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                "{% set ns.s = ns.s + ns.s %}{% endfor %}",
                ErrorCode::kOutOfRange)
            .size() > 0);
  // Lists and dicts nested by a loop are freed and printed within bounds (the million-deep
  // case below is left to the Release run: ~400 s under the sanitizers).
  const std::string nest = "{% set ns = namespace(x=none) %}{% for i in range(20000) %}";
  CHECK(render(nest + "{% set ns.x = [ns.x, {'k': [ns.x]}] %}{% endfor %}done") == "done");
  CHECK(failure(nest + "{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}", ErrorCode::kOutOfRange)
            .find("nested more than 512") != std::string::npos);
  // A render context nested past tojson's bound is refused before it is converted.
  ordered_json deep = 1;
  for (int i = 0; i < 1000; ++i) deep = ordered_json::array({std::move(deep)});
  try {
    mimo::jinja::Template("{{ x }}", "t").render(ordered_json{{"x", deep}});
    FAIL("expected a mimo::Error");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == ErrorCode::kOutOfRange);
    CHECK(std::string(e.what()).find("nests more than 512 levels") != std::string::npos);
  }
  // A namespace holding itself prints as an error instead of recursing forever.
  CHECK(failure("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}",
                ErrorCode::kOutOfRange)
            .size() > 0);
}
