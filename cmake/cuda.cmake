# Optional CUDA: kernels/cuda is built only where nvcc (and its toolkit) is
# found, so CI compiles it wherever nvcc is present. WAYPOINT_HAVE_CUDA tells
# the rest of the build whether it was.
option(WAYPOINT_ENABLE_CUDA "Build the CUDA kernels when nvcc is found" ON)
set(WAYPOINT_HAVE_CUDA OFF)
set(_waypoint_cuda_why "WAYPOINT_ENABLE_CUDA is OFF")
if(WAYPOINT_ENABLE_CUDA)
  include(CheckLanguage)
  # nvcc is usually not on PATH. Going through CUDACXX (rather than setting
  # CMAKE_CUDA_COMPILER) keeps check_language's trial configure in play, so a broken
  # nvcc turns CUDA off instead of failing the whole configure.
  if(NOT DEFINED ENV{CUDACXX} AND NOT DEFINED CMAKE_CUDA_COMPILER
     AND EXISTS /usr/local/cuda/bin/nvcc)
    set(ENV{CUDACXX} /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  set(_waypoint_cuda_why "no working nvcc (set CUDACXX or CMAKE_CUDA_COMPILER)")
endif()
if(WAYPOINT_ENABLE_CUDA AND CMAKE_CUDA_COMPILER)
  # Set before enable_language so the compiler checks already target the lent GPUs
  # (H100/H200) rather than nvcc's default architecture. -DCMAKE_CUDA_ARCHITECTURES
  # or the CUDAARCHS environment variable overrides it.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
    set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures to build for")
  endif()
  # One CUDA runtime per process: the default (static cudart) would sit alongside the
  # shared CUDA::cudart we link.
  if(NOT DEFINED CMAKE_CUDA_RUNTIME_LIBRARY)
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit)
  if(CUDAToolkit_FOUND)
    # CMake 3.25 knows nvcc's -std flags only up to C++17, though nvcc 12+ with g++ 12
    # accepts -std=c++20; teach it the flag when the compiler takes it.
    if(NOT "cuda_std_20" IN_LIST CMAKE_CUDA_COMPILE_FEATURES
       AND NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      include(CheckCompilerFlag)
      check_compiler_flag(CUDA -std=c++20 WAYPOINT_NVCC_ACCEPTS_CXX20)
      if(WAYPOINT_NVCC_ACCEPTS_CXX20)
        set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION -std=c++20)
        set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION -std=c++20)
      endif()
    endif()
    if("cuda_std_20" IN_LIST CMAKE_CUDA_COMPILE_FEATURES OR WAYPOINT_NVCC_ACCEPTS_CXX20)
      set(CMAKE_CUDA_STANDARD 20)
    else()
      set(CMAKE_CUDA_STANDARD 17)
    endif()
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(CMAKE_CUDA_EXTENSIONS OFF)
    # The project's warning flags are g++'s and apply to C++ only (see the top
    # level): nvcc hands unknown flags to the host compiler, where -Wpedantic
    # rejects the line markers nvcc generates. CUDA gets the equivalents.
    add_compile_options("$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>")
    if(WAYPOINT_WERROR)
      add_compile_options("$<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings>"
                          "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Werror>")
    endif()
    set(WAYPOINT_HAVE_CUDA ON)
  else()
    set(_waypoint_cuda_why "nvcc found but not the CUDA toolkit (cudart)")
  endif()
endif()
if(WAYPOINT_HAVE_CUDA)
  message(STATUS "Waypoint CUDA kernels: ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION} at "
                 "${CMAKE_CUDA_COMPILER}, architectures ${CMAKE_CUDA_ARCHITECTURES}, "
                 "C++${CMAKE_CUDA_STANDARD})")
else()
  message(STATUS "Waypoint CUDA kernels: OFF (${_waypoint_cuda_why})")
endif()

