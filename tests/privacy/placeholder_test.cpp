#include <gtest/gtest.h>
TEST(privacyPlaceholder, Builds) { SUCCEED(); }
