#!/usr/bin/env bash
# probity's CUDA checks in one command, on the GPU machine, from the root of the project's copy,
# after `bash .gpu/kit/device.sh` has assembled ONNX Runtime GPU and written /tmp/gpu/env.sh
# (LD_LIBRARY_PATH for the CUDA libraries, ORT_LIB for libonnxruntime.so). The machine needs no
# cargo: it runs prebuilt executables (see BENCHMARKS.md, "GPU runs").
#
#   OUT=/some/folder benches/gpu.sh                    # every step, in this order
#   OUT=/some/folder benches/gpu.sh throughput cuda    # some steps
#
# Steps (each under `timeout`, its output written to $OUT as it runs; a step that fails or runs
# over is recorded in $OUT/gpu.txt and the next one starts):
#   throughput  the throughput bench (a) vs (b) with PROBITY_BENCH_EP=cuda on the CNN
#               (tests/fixtures/zoo/rgb-cnn.onnx) and the 224x224 model, at batch 64 and 1024:
#               $OUT/throughput-cuda-b64.txt, $OUT/throughput-cuda-b1024.txt
#   cuda        benches/realsize.sh with --ep cuda on r224-patch and r224-clean: $OUT/realsize-cuda.txt
#   cpu         benches/realsize.sh on the CPU pinned to 2 cores (taskset -c 0,1, --threads 2) on
#               r224-patch, the baseline for the CUDA scan's speed-up: $OUT/realsize-cpu2.txt
#   parity      the same scans on CUDA and on the CPU, compared with `probity report diff`: the
#               README's digits BadNets job, the text `cf` fixture, and the opt-in adversarial
#               battery on the CNN; $OUT/parity-NAME-EP/report.json and $OUT/parity-NAME-diff.txt
#
# Environment (defaults in brackets):
#   OUT                   the folder for the results (required)
#   PROBITY_BENCH_EXE     the throughput bench executable [.gpu/kit/throughput]
#   PROBITY_BIN           the probity binary [.gpu/kit/probity]
#   PROBITY_GPU_CPU_MODELS  models for the cpu step ["r224-patch"]
#   PROBITY_THREADS       --threads of the cuda step's scans (input generation runs on the CPU) [2]
#   PROBITY_GPU_LIMITS    seconds per step: throughput (per batch size), cuda, cpu ["120 340 560"]
#
# One command of a lent machine may run 10 minutes: run `throughput cuda` and `cpu` as two calls.
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:?set OUT to the folder the results go to}
mkdir -p "$out"
if [ ! -f /tmp/gpu/env.sh ]; then
    echo "benches/gpu.sh: /tmp/gpu/env.sh is missing; run bash .gpu/kit/device.sh first" >&2
    exit 2
fi
# shellcheck source=/dev/null
. /tmp/gpu/env.sh
bench=${PROBITY_BENCH_EXE:-.gpu/kit/throughput}
bin=${PROBITY_BIN:-.gpu/kit/probity}
for exe in "$bench" "$bin"; do
    [ -x "$exe" ] || { echo "benches/gpu.sh: $exe is not an executable; see BENCHMARKS.md, GPU runs" >&2; exit 2; }
done
read -r limit_bench limit_cuda limit_cpu <<<"${PROBITY_GPU_LIMITS:-120 340 560}"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(throughput cuda cpu)

summary=$out/gpu.txt
note() { echo "$*" | tee -a "$summary"; }
# run NAME LIMIT COMMAND...: the command's output to $out/NAME.txt as it goes, its exit to the summary.
run() {
    local name=$1 limit=$2 status=0 started=$SECONDS
    shift 2
    note "== $name (timeout $limit s): $*"
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1 || status=$?
    note "   exit $status after $((SECONDS - started)) s$([ "$status" = 124 ] && echo ' (timed out)')"
}

note "benches/gpu.sh $(date -u '+%Y-%m-%d %H:%M UTC'), ORT_LIB $ORT_LIB, $(nproc) CPUs"
nvidia-smi -L 2>&1 | tee -a "$summary"
for step in "${steps[@]}"; do
    case $step in
        throughput)
            for batch in 64 1024; do
                run "throughput-cuda-b$batch" "$limit_bench" env ORT_DYLIB_PATH="$ORT_LIB" PROBITY_BENCH_EP=cuda \
                    PROBITY_BENCH_MODELS=rgb-cnn,r224 PROBITY_BENCH_BATCH="$batch" "$bench"
            done
            ;;
        cuda)
            run realsize-cuda-run "$limit_cuda" env PROBITY_BIN="$bin" PROBITY_EP=cuda PROBITY_ORT_LIB="$ORT_LIB" \
                PROBITY_THREADS="${PROBITY_THREADS:-2}" PROBITY_REALSIZE_RESULTS="$out/realsize-cuda.txt" benches/realsize.sh r224-patch r224-clean
            ;;
        cpu)
            # shellcheck disable=SC2086 # a list of model names
            run realsize-cpu2-run "$limit_cpu" env PROBITY_BIN="$bin" PROBITY_ORT_LIB="$ORT_LIB" PROBITY_CPUS=0,1 \
                PROBITY_THREADS=2 PROBITY_REALSIZE_RESULTS="$out/realsize-cpu2.txt" \
                benches/realsize.sh ${PROBITY_GPU_CPU_MODELS:-r224-patch}
            ;;
        parity)
            scans=(
                "badnets --model tests/fixtures/digits/badnets-mlp64.onnx --data tests/fixtures/digits/digits-test.npz"
                "text-cf --model tests/fixtures/text/text-backdoor-cf.onnx --data tests/fixtures/text/text-test.jsonl"
                "adversarial --model tests/fixtures/zoo/rgb-cnn.onnx --data tests/fixtures/zoo/rgb-test.npz --battery batteries/image-adversarial.yaml"
            )
            for scan in "${scans[@]}"; do
                name=${scan%% *}
                for ep in cuda cpu; do
                    # shellcheck disable=SC2086 # the scan's arguments
                    run "parity-$name-$ep" 150 "$bin" scan --ort-lib "$ORT_LIB" --ep "$ep" ${scan#* } --out "$out/parity-$name-$ep"
                done
                # Exit 1 of `report diff` is a significant change between the two providers.
                run "parity-$name-diff" 30 "$bin" report diff "$out/parity-$name-cpu/report.json" "$out/parity-$name-cuda/report.json"
            done
            ;;
        *)
            echo "benches/gpu.sh: unknown step $step (throughput, cuda, cpu, parity)" >&2
            exit 2
            ;;
    esac
done
note "done $(date -u '+%H:%M:%S UTC')"
