# The result cache's unit tests (query/cached_prometheus_client.h); included from
# tests/query/CMakeLists.txt.
sextant_test(cached_prometheus_client_test SOURCES cached_prometheus_client_test.cc LIBS sextant_query)
