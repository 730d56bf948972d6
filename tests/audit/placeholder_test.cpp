#include <gtest/gtest.h>
TEST(auditPlaceholder, Builds) { SUCCEED(); }
