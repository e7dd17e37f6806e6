# Window kernel benchmarks (included from tests/bench/CMakeLists.txt); hack/bench-kernels.sh
# builds and runs build/window_kernels_bench and prints the ratios as a markdown table.
find_package(benchmark REQUIRED)
add_executable(window_kernels_bench ${CMAKE_CURRENT_LIST_DIR}/window_kernels_bench.cc)
target_compile_options(window_kernels_bench PRIVATE ${SEXTANT_WARNINGS})
target_link_libraries(window_kernels_bench PRIVATE sextant_kernels benchmark::benchmark)
set_target_properties(window_kernels_bench PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
