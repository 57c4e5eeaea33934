#include "args.h"

#include <cmath>

namespace tabby {

bool ReadString(Napi::Env env, Napi::Value value, const std::string& name, std::string* out) {
  if (!value.IsString()) {
    Napi::TypeError::New(env, name + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  *out = value.As<Napi::String>().Utf8Value();
  return true;
}

bool ReadInteger(Napi::Env env, Napi::Value value, const std::string& name, int64_t min, int64_t max, int64_t* out) {
  if (!value.IsNumber()) {
    Napi::TypeError::New(env, name + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double number = value.As<Napi::Number>().DoubleValue();
  if (std::trunc(number) != number || number < static_cast<double>(min) || number > static_cast<double>(max)) {
    std::string range = std::to_string(min) + ".." + std::to_string(max);
    Napi::RangeError::New(env, name + " must be an integer in " + range + ", not " + value.ToString().Utf8Value())
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int64_t>(number);
  return true;
}

bool ReadOptionalInteger(Napi::Env env, Napi::Object object, const std::string& name, int64_t min, int64_t max,
                         int64_t* out) {
  Napi::Value value = object.Get(name);
  return value.IsUndefined() || ReadInteger(env, value, name, min, max, out);
}

bool ReadOptionalString(Napi::Env env, Napi::Object object, const std::string& name, std::string* out) {
  Napi::Value value = object.Get(name);
  return value.IsUndefined() || ReadString(env, value, name, out);
}

}  // namespace tabby
