// Half-float conversions and the supported-type table.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "tensor/tensor.h"

namespace inhouse::tensor {
namespace {

TEST(Fp16, KnownValues) {
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(fp16_to_fp32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_EQ(std::bit_cast<uint32_t>(fp16_to_fp32(0x8000)), 0x80000000u);  // -0
}

TEST(Fp16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), h) << std::hex << h;
  }
}

TEST(Fp16, RoundsToNearestEven) {
  const float one_ulp = std::ldexp(1.0f, -10);  // ulp of 1.0 in half
  EXPECT_EQ(fp32_to_fp16(1.0f + one_ulp / 2), 0x3C00);       // tie -> even (down)
  EXPECT_EQ(fp32_to_fp16(1.0f + 1.5f * one_ulp), 0x3C02);    // tie -> even (up)
  EXPECT_EQ(fp32_to_fp16(1.0f + 0.6f * one_ulp), 0x3C01);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);                 // overflows to inf
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);    // tie between 0 and 1 ulp -> 0
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
}

TEST(Bf16, ConvertsAndRounds) {
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(-2.5f), 0xC020);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Types, UnsupportedTypeErrorListsSupportedOnes) {
  try {
    check_supported(TensorType::Q2_K, "tensor 'blk.0.attn_q.weight'");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("q2_K"), std::string::npos) << msg;
    EXPECT_NE(msg.find("supported types: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, "
                       "q5_K, q6_K"), std::string::npos) << msg;
  }
  EXPECT_THROW(row_bytes(TensorType::IQ2_XXS, 256), Error);
  EXPECT_THROW(row_bytes(TensorType::Q4_0, 48), Error);  // 1.5 blocks
  EXPECT_EQ(row_bytes(TensorType::Q4_0, 64), 36u);
  EXPECT_EQ(row_bytes(TensorType::Q6_K, 512), 420u);
}

}  // namespace
}  // namespace inhouse::tensor
