"""hvdr_fuzzer: one libFuzzer target and its replay test.

`hvdr_fuzzer(name = "x", ...)` with source `x_fuzzer.cc` defines
- `x_fuzzer`: the libFuzzer binary (tagged manual: it links with
  -fsanitize=fuzzer, so it builds only with --config=fuzz, clang-14), and
- `x_fuzzer_test`: the same source linked with replay_main.cc, a cc_test of
  the default build that feeds it every file of corpus/x/ (the seeds) and
  regressions/x/ (inputs that once crashed it).
"""

def hvdr_fuzzer(name, deps, srcs = None, testonly = False):
    srcs = srcs or [name + "_fuzzer.cc"]
    native.cc_binary(
        name = name + "_fuzzer",
        srcs = srcs,
        deps = deps,
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
        testonly = testonly,
    )
    native.cc_test(
        name = name + "_fuzzer_test",
        srcs = srcs + ["replay_main.cc"],
        deps = deps,
        args = ["fuzz/corpus/" + name, "fuzz/regressions/" + name],
        data = native.glob(
            ["corpus/" + name + "/**", "regressions/" + name + "/**"],
            exclude_directories = 1,
        ),
    )
