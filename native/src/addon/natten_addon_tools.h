// The addon's checks of a problem handed in from JavaScript (memory safety of the kernels it feeds; the ops
// validated the call already) and its GPU-check exports: selfCheck, benchmark, copyBandwidth, buildInfo.
#pragma once

#include <napi.h>

#include <string>

#include "natten/problem.h"

namespace natten {
namespace addon {

// Why the kernels cannot run this problem safely, or "" when they can.
std::string problem_error(const NAProblem& p);

void add_tools(Napi::Env env, Napi::Object exports);

}  // namespace addon
}  // namespace natten
