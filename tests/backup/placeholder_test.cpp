#include <gtest/gtest.h>
TEST(backupPlaceholder, Builds) { SUCCEED(); }
