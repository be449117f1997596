// --device auto|cpu|cuda: the choice from the flag and what the build and the machine
// offer, and this machine's own answer (probe_cuda).
#include "worker/device_selection.hpp"

#include <gtest/gtest.h>

namespace waypoint {
namespace {

CudaAvailability no_build() { return {}; }
CudaAvailability no_device() {
  return {.built = true,
          .nccl = true,
          .device_count = 0,
          .detail = "no CUDA-capable device is detected"};
}
CudaAvailability devices(int n, bool nccl = true) {
  return {.built = true, .nccl = nccl, .device_count = n, .detail = ""};
}

TEST(DeviceSelection, CpuIsAlwaysCpu) {
  for (const auto& cuda : {no_build(), no_device(), devices(8)}) {
    auto d = select_device("cpu", cuda, 1);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, Device::kCpu);
  }
}

TEST(DeviceSelection, AutoIsCudaOnlyWhereCudaCanRun) {
  EXPECT_EQ(*select_device("auto", no_build(), 1), Device::kCpu);
  EXPECT_EQ(*select_device("auto", no_device(), 1), Device::kCpu);
  EXPECT_EQ(*select_device("auto", devices(1), 1), Device::kCuda);
  EXPECT_EQ(*select_device("auto", devices(2), 2), Device::kCuda);
}

TEST(DeviceSelection, CudaWithoutCudaIsAClearErrorNamingTheFlag) {
  for (const auto& cuda : {no_build(), no_device()}) {
    auto d = select_device("cuda", cuda, 1);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message.find("--device cuda"), std::string::npos) << d.error().message;
    EXPECT_NE(d.error().message.find("--device cpu"), std::string::npos) << "says what to do";
    EXPECT_EQ(d.error().message.find('\n'), std::string::npos);
  }
  EXPECT_NE(select_device("cuda", no_build(), 1).error().message.find("built without CUDA"),
            std::string::npos);
  EXPECT_NE(select_device("cuda", no_device(), 1).error().message.find("no CUDA device"),
            std::string::npos);
}

TEST(DeviceSelection, CudaNeedsADevicePerRankAndNcclAboveOne) {
  EXPECT_EQ(*select_device("cuda", devices(2), 2), Device::kCuda);
  for (const char* flag : {"cuda", "auto"}) {
    auto few = select_device(flag, devices(1), 2);
    ASSERT_FALSE(few.ok()) << flag;
    EXPECT_NE(few.error().message.find("--tensor-parallel-size 2"), std::string::npos);
    auto no_nccl = select_device(flag, devices(2, /*nccl=*/false), 2);
    ASSERT_FALSE(no_nccl.ok()) << flag;
    EXPECT_NE(no_nccl.error().message.find("NCCL"), std::string::npos);
  }
  EXPECT_EQ(*select_device("cuda", devices(1, /*nccl=*/false), 1), Device::kCuda);
}

TEST(DeviceSelection, OtherValuesAreRefused) {
  for (const char* flag : {"gpu", "CUDA", "", "tpu"}) {
    auto d = select_device(flag, devices(1), 1);
    ASSERT_FALSE(d.ok()) << flag;
    EXPECT_NE(d.error().message.find("--device must be auto, cpu or cuda"), std::string::npos);
    EXPECT_FALSE(check_device_flag(flag).ok());
  }
  for (const char* flag : {"auto", "cpu", "cuda"}) EXPECT_TRUE(check_device_flag(flag).ok());
}

TEST(DeviceSelection, CudaRunsTheHeadDimsItsAttentionTakes) {
  ModelConfig m;
  for (int32_t d : {16, 32, 64, 128, 256}) {  // 16: the tiny demo model's
    m.head_dim = d;
    EXPECT_TRUE(check_cuda_model(m).ok()) << d;
  }
  for (int32_t d : {8, 48, 80, 96}) {
    m.head_dim = d;
    auto ok = check_cuda_model(m);
    ASSERT_FALSE(ok.ok()) << d;
    EXPECT_NE(ok.error().message.find("head_dim"), std::string::npos);
  }
}

// This machine, as the launcher sees it. Without a device, auto must mean cpu and
// cuda a usage error; with one, both mean cuda.
TEST(DeviceSelection, ThisMachine) {
  const CudaAvailability cuda = probe_cuda();
#ifdef WAYPOINT_HAVE_CUDA
  EXPECT_TRUE(cuda.built);
#else
  EXPECT_FALSE(cuda.built);
  EXPECT_EQ(cuda.device_count, 0);
#endif
  if (cuda.device_count == 0) {
    EXPECT_FALSE(cuda.detail.empty());
    EXPECT_EQ(*select_device("auto", cuda, 1), Device::kCpu);
    EXPECT_FALSE(select_device("cuda", cuda, 1).ok());
  } else {
    EXPECT_EQ(*select_device("auto", cuda, 1), Device::kCuda);
    EXPECT_EQ(*select_device("cuda", cuda, 1), Device::kCuda);
  }
}

}  // namespace
}  // namespace waypoint
