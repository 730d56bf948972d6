#include <gtest/gtest.h>
#include "gguf/gguf.h"
TEST(GgufReader, Placeholder) {}
