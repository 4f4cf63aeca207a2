{
  "targets": [
    {
      "target_name": "lowbit_native",
      "sources": [
        "src/native/addon.cc",
        "src/native/gemm.cc",
        "src/native/nn.cc",
        "src/native/linalg64.cc",
        "src/native/elementwise.cc",
        "src/native/peak.cc",
        "src/native/pool.cc",
        "src/native/quant.cc",
        "src/native/convert.cc",
        "src/native/bitpack.cc",
        "src/native/kquants.cc"
      ],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "cflags!": ["-fno-exceptions"]
    }
  ]
}
