#include <gtest/gtest.h>
TEST(accessPlaceholder, Builds) { SUCCEED(); }
