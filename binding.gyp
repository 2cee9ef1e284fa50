{
  "targets": [
    {
      "target_name": "fulcrum_packet",
      "sources": ["speaker/announce/native/packet.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
