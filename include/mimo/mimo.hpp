// The whole public API of libmimo in one include: models, sessions, samplers, speculators,
// constrained decoding (JSON), tokenizers and chat templates, checkpoint inspection, quantization,
// errors and the version.
#pragma once

#include "mimo/chat_template.hpp"
#include "mimo/checkpoint.hpp"
#include "mimo/error.hpp"
#include "mimo/export.hpp"
#include "mimo/json_constraint.hpp"
#include "mimo/model.hpp"
#include "mimo/quantize.hpp"
#include "mimo/sampler.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "mimo/token_constraint.hpp"
#include "mimo/tokenizer.hpp"
#include "mimo/version.hpp"
