# Signals: the `signals:` config section, the series window store and the signal provider
# (included from tests/scaling/CMakeLists.txt).
sextant_test(signal_config_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/signal_config_test.cc
             LIBS sextant_scaling)
sextant_test(window_store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/window_store_test.cc
             LIBS sextant_scaling)
sextant_test(signal_provider_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/signal_provider_test.cc
             LIBS sextant_scaling)
sextant_test(composite_provider_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/composite_provider_test.cc
             LIBS sextant_scaling)
