# The built-in catalog: the table, what a request reads and keeps, the pure evaluation and the
# provider with discovery (included from tests/scaling/CMakeLists.txt).
sextant_test(catalog_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/catalog_test.cc
             LIBS sextant_scaling)
sextant_test(catalog_eval_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/catalog_eval_test.cc
             LIBS sextant_scaling)
sextant_test(catalog_provider_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/catalog_provider_test.cc
             LIBS sextant_scaling)
