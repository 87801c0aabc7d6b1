# The etcd v3 client (src/coord/, issue #13) and its tests. Included by the top
# CMakeLists.txt once the other libraries are defined.
#
# gRPC + protobuf: etcd's v3 API is gRPC, so its client is generated from etcd's .proto files
# (Debian's golang-etcd-server-dev), stripped of their Go-only options by
# scripts/strip_etcd_protos at build time.
if(BALE_FUZZ)
  return()  # the fuzz build has no etcd client
endif()

find_package(PkgConfig REQUIRED)
pkg_check_modules(GRPCPP REQUIRED grpc++)
pkg_check_modules(PROTOBUF REQUIRED protobuf)
find_program(PROTOC protoc REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_package(Python3 REQUIRED COMPONENTS Interpreter)

set(BALE_ETCD_SRC /usr/share/gocode/src/go.etcd.io/etcd)
set(BALE_ETCD_PROTO_DIR ${CMAKE_BINARY_DIR}/etcd_protos)
set(BALE_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
set(BALE_ETCD_PROTOS
  etcd/etcdserver/etcdserverpb/rpc.proto
  etcd/mvcc/mvccpb/kv.proto
  etcd/auth/authpb/auth.proto
  etcd/etcdserver/api/v3election/v3electionpb/v3election.proto)

set(stripped)
set(generated)
foreach(proto ${BALE_ETCD_PROTOS})
  string(REGEX REPLACE "^etcd/" "" rel ${proto})
  list(APPEND stripped ${BALE_ETCD_PROTO_DIR}/${proto})
  string(REGEX REPLACE "\\.proto$" "" base ${proto})
  list(APPEND generated ${BALE_GEN_DIR}/${base}.pb.cc ${BALE_GEN_DIR}/${base}.pb.h
                        ${BALE_GEN_DIR}/${base}.grpc.pb.cc ${BALE_GEN_DIR}/${base}.grpc.pb.h)
  list(APPEND etcd_sources ${BALE_ETCD_SRC}/${rel})
endforeach()

add_custom_command(
  OUTPUT ${stripped}
  COMMAND Python3::Interpreter ${CMAKE_SOURCE_DIR}/scripts/strip_etcd_protos
          --src ${BALE_ETCD_SRC} ${BALE_ETCD_PROTO_DIR}
  DEPENDS ${CMAKE_SOURCE_DIR}/scripts/strip_etcd_protos ${etcd_sources}
  COMMENT "Stripping etcd's .proto files of their Go-only options"
  VERBATIM)

add_custom_command(
  OUTPUT ${generated}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${BALE_GEN_DIR}
  COMMAND ${PROTOC} -I ${BALE_ETCD_PROTO_DIR} --cpp_out=${BALE_GEN_DIR}
          --grpc_out=${BALE_GEN_DIR} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN}
          ${BALE_ETCD_PROTOS}
  DEPENDS ${stripped} ${PROTOC} ${GRPC_CPP_PLUGIN}
  COMMENT "Generating the etcd v3 gRPC client"
  VERBATIM)

set(generated_cc ${generated})
list(FILTER generated_cc INCLUDE REGEX "\\.cc$")
set_source_files_properties(${generated_cc} PROPERTIES COMPILE_OPTIONS "-w")

file(GLOB BALE_COORD_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/coord/*.cc)
list(FILTER BALE_COORD_SOURCES EXCLUDE REGEX "_test\\.cc$")
add_library(bale_coord ${generated} ${BALE_COORD_SOURCES})
target_include_directories(bale_coord SYSTEM PUBLIC ${BALE_GEN_DIR} ${GRPCPP_INCLUDE_DIRS}
                                                    ${PROTOBUF_INCLUDE_DIRS})
target_link_libraries(bale_coord PUBLIC bale_base ${GRPCPP_LINK_LIBRARIES}
                                        ${PROTOBUF_LINK_LIBRARIES})

# Its tests start a real /usr/bin/etcd (tests/etcd_server.h); a binary of their own, so
# bale_tests does not link gRPC.
include(GoogleTest)
enable_testing()
add_executable(bale_coord_tests
  src/coord/etcd_client_test.cc
  src/coord/etcd_security_test.cc
  src/coord/coord_session_test.cc)
target_include_directories(bale_coord_tests PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_compile_definitions(bale_coord_tests PRIVATE BALE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
target_link_libraries(bale_coord_tests PRIVATE bale_coord GTest::gtest GTest::gtest_main)
gtest_discover_tests(bale_coord_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
