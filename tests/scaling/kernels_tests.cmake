# Window kernel tests (included from tests/scaling/CMakeLists.txt). Runs every kernel on every
# Highway target the CPU supports; the promtool known-answer test skips without promtool.
sextant_test(window_kernels_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/window_kernels_test.cc
  LIBS sextant_kernels)
