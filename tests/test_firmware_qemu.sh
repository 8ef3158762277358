#!/usr/bin/env bash
# The int8 LeNet on emulated Cortex-M cores, bit for bit against the host;
# and any exported graph (LeNet, ResNet-8, DS-CNN of models/, and a mixed-
# precision ResNet-8: int16 activations, int4 weights) on the DSP
# cores (Cortex-M4F mps2-an386, Cortex-M7 mps2-an500).
#
# For each target below: cross-build the LeNet firmware (cross/*.ini,
# examples/firmware) from its graph model file (examples/firmware/
# NAME.graph.safetensors, converted from the lab's NAME.safetensors by
# tq-export --convert-lenet-s8), run it under qemu-system-arm with
# semihosting on CIFAR-10 test images spread over the whole test set, plus
# synthetic images, run the host reference (fw_host_reference: the lab's
# integer path, lenet_forward_s8, on the old NAME.safetensors) on the same
# images, and require identical result lines: every label, prediction, int8
# logit and int32 accumulator. Without the data set only the synthetic
# images run. Every firmware must link no heap and no stdio; the Cortex-M0+
# one (soft float) no float library routine, the FPU ones no FPU
# instruction. Each firmware must report the kernel path its core should
# use: the DSP (SMLAD) path on the Cortex-M4F and M7, the portable C path on
# the M0+. On the DSP cores, examples/firmware/kernel_check.c then runs
# random and LeNet-shaped GEMMs, convolutions and fully connected layers on
# both paths and requires identical bytes (and the raw GEMM equal to an
# int64 loop); likewise the 16x8 (int16 x int8) and int4-weight conv and
# fully connected kernels and their DSP inner products (dsp s16/s4).
#
# Usage: test_firmware_qemu.sh SOURCE_ROOT WORK_DIR HOST_REFERENCE DATA_DIR
# ($TINYQ_DATA_DIR overrides DATA_DIR.) Exits 77, which meson reports as
# skipped, when the Arm toolchain or QEMU is not installed.
#
# SPDX-License-Identifier: Apache-2.0
set -euo pipefail

src=$(cd "$1" && pwd)
work=$2
ref=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
data=${TINYQ_DATA_DIR:-$4}
batch=$data/cifar10/test_batch.bin
synthetic=8

missing=()
command -v arm-none-eabi-gcc >/dev/null || missing+=(gcc-arm-none-eabi)
if command -v arm-none-eabi-gcc >/dev/null &&
   [ ! -f "$(arm-none-eabi-gcc -print-file-name=libc_nano.a)" ]; then
  missing+=(libnewlib-arm-none-eabi)
fi
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIP: the firmware test needs the Debian packages: ${missing[*]}"
  exit 77
fi

mkdir -p "$work"
work=$(cd "$work" && pwd)
records=0
if [ -r "$batch" ]; then
  # QEMU's semihosting joins its arguments with spaces: hand the firmware a
  # path without any, relative to QEMU's working directory.
  ln -sf "$(cd "$(dirname "$batch")" && pwd)/test_batch.bin" "$work/test_batch.bin"
  records=$(( $(stat -c %s "$batch") / 3073 ))
else
  echo "NOTE: $batch not found: synthetic images only"
fi

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Run the firmware ELF on machine $1 with arguments FILE FIRST COUNT STRIDE,
# and the host reference with model $2 on the same images; compare.
compare() {
  local machine=$1 model=$2 elf=$3 tag=$4 file=$5 first=$6 count=$7 stride=$8
  local fw_out="$work/$tag.firmware.txt" host_out="$work/$tag.host.txt"
  local fw_file=$file
  [ "$file" = - ] || fw_file=test_batch.bin
  if ! (cd "$work" && timeout 600 qemu-system-arm -M "$machine" -nographic \
          -monitor none -serial none \
          -semihosting-config "enable=on,target=native,arg=lenet_fw,arg=$fw_file,arg=$first,arg=$count,arg=$stride" \
          -kernel "$elf") >"$fw_out" 2>&1; then
    fail "$tag: the firmware did not finish cleanly"; tail -n 5 "$fw_out"; return
  fi
  "$ref" "$model" "$file" "$first" "$count" "$stride" >"$host_out"
  local lines
  lines=$(grep -c '^image ' "$fw_out" || true)
  if [ "$lines" -ne "$count" ]; then
    fail "$tag: $lines result lines from the firmware, expected $count"; return
  fi
  if ! diff <(grep '^image ' "$fw_out") "$host_out" >"$work/$tag.diff"; then
    fail "$tag: firmware and host differ (first differences below)"
    head -n 6 "$work/$tag.diff"
    return
  fi
  echo "ok: $tag: $count images bit-exact with the host ($(grep '^#' "$fw_out" | tail -n 1 | sed 's/^# //'))"
}

# The kernel path that firmware run $1 reported in its summary must be $2.
check_path() {
  local fw_out="$work/$1.firmware.txt" want=$2 got
  got=$(grep '^# images' "$fw_out" | tail -n 1 | sed -n 's/.*| kernels \([^ ]*\)$/\1/p')
  if [ "$got" = "$want" ]; then
    echo "ok: $1: kernel path $got"
  else
    fail "$1: kernel path '${got:-none reported}', expected $want"
  fi
}

# kernel_check.elf on machine $1: the DSP path against the portable one.
kernel_check() {
  local machine=$1 elf=$2 tag=$3 out="$work/$3.txt" start=$SECONDS
  if ! (cd "$work" && timeout 600 qemu-system-arm -M "$machine" -nographic \
          -monitor none -serial none \
          -semihosting-config "enable=on,target=native,arg=kernel_check" \
          -kernel "$elf") >"$out" 2>&1; then
    fail "$tag: the DSP kernel check failed"
    grep -E '^(FAIL|  FAIL|#)' "$out" | head -n 12
    return
  fi
  local summary
  summary=$(grep '^# kernel_check PASS' "$out" | tail -n 1)
  if ! grep -q ' FAIL 0$' <<<"$summary"; then
    fail "$tag: the DSP kernel check did not pass: ${summary:-no summary}"; return
  fi
  grep -E '^(ok|FAIL) ' "$out" | sed 's/^/    /'
  echo "ok: $tag: DSP path identical to portable-c (${summary#\# kernel_check }, $((SECONDS - start)) s)"
}

# The linked firmware must hold no allocator, no stdio, and (where given)
# nothing matching a float pattern.
check_symbols() {
  local elf=$1 tag=$2 soft_float=$3
  local syms
  syms=$(arm-none-eabi-nm "$elf" | awk '{print $NF}')
  local bad
  bad=$(grep -xE 'malloc|calloc|realloc|free|_malloc_r|_sbrk|_sbrk_r|printf|puts|fputs|fwrite|_write|_write_r|_printf_r' <<<"$syms" || true)
  [ -z "$bad" ] || fail "$tag links heap or stdio symbols: $bad"
  if [ "$soft_float" = soft ]; then
    bad=$(grep -E '^__aeabi_(f|d|u?i2[fd]|u?l2[fd])|^__[a-z]+[sd]f[0-9]$|^__float|^__fix' <<<"$syms" || true)
    [ -z "$bad" ] || fail "$tag links float library routines: $(tr "\n" " " <<<"$bad")"
    [ -n "$bad" ] || echo "ok: $tag: no float library routine linked (soft float)"
  else
    local vfp
    vfp=$(arm-none-eabi-objdump -d "$elf" | grep -cE '^ +[0-9a-f]+:[[:space:]]+[0-9a-f ]+[[:space:]]+v[a-z]' || true)
    [ "$vfp" -eq 0 ] || fail "$tag: $vfp FPU instructions in the int8 firmware"
    [ "$vfp" -ne 0 ] || echo "ok: $tag: no FPU instruction in the int8 firmware"
  fi
}

# Graph models (examples/firmware/graph_fw.c): the ONNX models of models/,
# quantized here with the default configuration on the first 1000 images of
# the CIFAR-10 training batch (fw_host_reference --quantize), exported by
# tq-export at build time, run on the DSP cores on graph_images test images
# each and compared with tq_graph_run_s8 on the host.
graph_models=(lenet/lenet resnet8/resnet8 dscnn/dscnn)
graph_images=100
train=$data/cifar10/data_batch_1.bin
graph_files=()
if [ "$records" -gt 0 ] && [ -r "$train" ]; then
  mkdir -p "$work/models"
  for m in "${graph_models[@]}"; do
    out="$work/models/$(basename "$m").safetensors"
    if "$ref" --quantize "$src/models/$m.onnx" "$train" 1000 "$out" \
         >"$work/models/$(basename "$m").log" 2>&1; then
      graph_files+=("$out")
    else
      fail "quantizing models/$m.onnx"; tail -n 5 "$work/models/$(basename "$m").log"
    fi
  done
  # Mixed precision: ResNet-8 with int16 activations on stage 2 (its
  # residual Add at int16) and int4 weights on stage 3 and the classifier,
  # requantized at the boundaries (tq_calibrator_set_dtype).
  mixed_dtypes="/stage2/relu1/Relu=s16,/stage2/conv2/Conv=s16,/stage2/shortcut/Conv=s16,/stage2/relu2/Relu=s16,onnx::Conv_96=s4,stage3.shortcut.weight=s4,onnx::Conv_99=s4,fc.weight=s4"
  out="$work/models/resnet8_mixed.safetensors"
  if "$ref" --quantize "$src/models/resnet8/resnet8.onnx" "$train" 1000 "$out" \
       "$mixed_dtypes" >"$work/models/resnet8_mixed.log" 2>&1; then
    graph_files+=("$out")
  else
    fail "quantizing models/resnet8/resnet8.onnx mixed precision"; tail -n 5 "$work/models/resnet8_mixed.log"
  fi
else
  echo "NOTE: the graph models (${graph_models[*]} resnet8_mixed) need the CIFAR-10 test and training batches ($batch, $train): skipped"
fi
graph_list=$(IFS=,; echo "${graph_files[*]}")

# graph_fw_<stem>.elf on machine $1 against fw_host_reference --graph.
compare_graph() {
  local machine=$1 model=$2 elf=$3 tag=$4 first=$5 count=$6 stride=$7
  local fw_out="$work/$tag.firmware.txt" host_out="$work/$tag.host.txt"
  local start=$SECONDS
  if ! (cd "$work" && timeout 600 qemu-system-arm -M "$machine" -nographic \
          -monitor none -serial none \
          -semihosting-config "enable=on,target=native,arg=graph_fw,arg=test_batch.bin,arg=$first,arg=$count,arg=$stride" \
          -kernel "$elf") >"$fw_out" 2>&1; then
    fail "$tag: the firmware did not finish cleanly"; tail -n 5 "$fw_out"; return
  fi
  "$ref" --graph "$model" "$batch" "$first" "$count" "$stride" >"$host_out"
  local lines
  lines=$(grep -c '^image ' "$fw_out" || true)
  if [ "$lines" -ne "$count" ]; then
    fail "$tag: $lines result lines from the firmware, expected $count"; return
  fi
  if ! diff <(grep '^image ' "$fw_out") "$host_out" >"$work/$tag.diff"; then
    fail "$tag: firmware and host differ (first differences below)"
    head -n 6 "$work/$tag.diff"
    return
  fi
  echo "ok: $tag: $count images bit-exact with the host ($(grep '^#' "$fw_out" | tail -n 1 | sed 's/^# //'), $((SECONDS - start)) s)"
}

# target (cross file) | QEMU machine | model (examples/firmware/MODEL.graph.
# safetensors in the firmware, MODEL.safetensors for the host reference) |
# CIFAR-10 images | first | float | kernel path
targets=(
  "cortex-m4f    mps2-an386 lenet_s8      200 0  hard armv7em-dsp"
  "cortex-m7     mps2-an500 lenet_bias_s8 100 25 hard armv7em-dsp"
  "cortex-m0plus microbit   lenet_s8      100 10 soft portable-c"
)
for t in "${targets[@]}"; do
  read -r name machine model count first float path <<<"$t"
  fw_model="$src/examples/firmware/$model.graph.safetensors"
  model="$src/examples/firmware/$model.safetensors"
  dir="$work/$name"
  opts=(-Dwerror=true "-Dfirmware_model=$fw_model")
  graphs=()
  if [ "$path" != portable-c ] && [ -n "$graph_list" ]; then
    opts+=("-Dfirmware_graphs=$graph_list")
    for f in "${graph_files[@]}"; do
      graphs+=("$(basename "$f" .safetensors)")
    done
  else
    opts+=("-Dfirmware_graphs=[]")
  fi
  # A build directory from an older tree may not know today's options:
  # set it up again from scratch when reconfiguring fails.
  if [ -f "$dir/build.ninja" ] &&
     ! meson configure "$dir" "${opts[@]}" >"$work/$name.setup.log" 2>&1; then
    rm -rf "$dir"
  fi
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$src" --cross-file "$src/cross/$name.ini" "${opts[@]}" \
      >"$work/$name.setup.log" 2>&1 || { fail "$name: meson setup"; tail -n 20 "$work/$name.setup.log"; continue; }
  fi
  goals=(examples/firmware/lenet_fw.elf)
  [ "$path" = portable-c ] || goals+=(examples/firmware/kernel_check.elf)
  for g in "${graphs[@]}"; do goals+=("examples/firmware/graph_fw_$g.elf"); done
  if ! ninja -C "$dir" "${goals[@]}" >"$work/$name.build.log" 2>&1; then
    fail "$name: build"; tail -n 30 "$work/$name.build.log"; continue
  fi
  elf="$dir/examples/firmware/lenet_fw.elf"
  check_symbols "$elf" "$name" "$float"
  compare "$machine" "$model" "$elf" "$name-synthetic" - 0 "$synthetic" 1
  check_path "$name-synthetic" "$path"
  [ "$path" = portable-c ] ||
    kernel_check "$machine" "$dir/examples/firmware/kernel_check.elf" "$name-kernels"
  if [ "$records" -gt 0 ]; then
    [ "$count" -le "$records" ] || count=$records
    stride=$(( (records - first) / count ))
    [ "$stride" -ge 1 ] || { first=0; stride=1; }
    compare "$machine" "$model" "$elf" "$name-cifar10" "$batch" "$first" "$count" "$stride"
  fi
  for g in "${graphs[@]}"; do
    gelf="$dir/examples/firmware/graph_fw_$g.elf"
    check_symbols "$gelf" "$name-$g" "$float"
    gstride=$(( (records - first) / graph_images ))
    compare_graph "$machine" "$work/models/$g.safetensors" "$gelf" \
      "$name-graph-$g" "$first" "$graph_images" "$gstride"
  done
done

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s); outputs in $work"
  exit 1
fi
echo "firmware bit-exact with the host on every image tried"
