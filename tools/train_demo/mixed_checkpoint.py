"""Reads a libmimo mixed checkpoint (models/demo/mixed) back into float32 weights in the hub layout
transformers loads, decoding exactly as the C++ engine does (lib/quant/block_formats.cpp,
docs/formats.md):
  FP8   <x>.weight F8_E4M3 [out, in] + <x>.weight_scale_inv F32 [ceil(out/128), ceil(in/128)]:
        real[r][c] = e4m3(code[r][c]) * scale_inv[r / 128][c / 128]   (float32 product)
  MXFP4 <x>.weight U8 [out, in/2] + <x>.weight_scale U8 (E8M0) [out, in/32]: byte j of a row
        holds input 2j in its low nibble and 2j+1 in its high nibble;
        real[r][c] = e2m1(code[r][c]) * 2^(scale[r][c / 32] - 127)
  BF16 / F32 tensors are widened to float32.
`decode_element` is a scalar pure-Python reference of the same rules (no numpy) that the
vectorised numpy decoder is checked against; `python3 mixed_checkpoint.py DIR [BF16_DIR]` runs
the pure-Python checks (hand values; with BF16_DIR, the QAT'd BF16 export the checkpoint was
quantized from: experts must match it exactly, FP8 linears to within 8 %)."""

import json
import math
import os
import random
import struct
import sys

FP8_BLOCK = 128
MXFP4_GROUP = 32
E2M1_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
               -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def e4m3_value(code):
    """FP8 E4M3 (fn): s.eeee.mmm, bias 7, subnormals m * 2^-9, 0x7F / 0xFF NaN, no infinity."""
    exp_field, mant = (code >> 3) & 0xF, code & 0x7
    if exp_field == 0xF and mant == 0x7:
        return float("nan")
    mag = mant * 2.0**-9 if exp_field == 0 else (8 + mant) * 2.0**(exp_field - 10)
    return -mag if code & 0x80 else mag


def e8m0_value(code):
    return float("nan") if code == 0xFF else math.ldexp(1.0, code - 127)


def bf16_value(bits):
    return struct.unpack("<f", struct.pack("<I", bits << 16))[0]


def to_float32(x):
    """x rounded to the nearest float32 (ties to even). The product of an E4M3 value (4
    significant bits) and a float32 scale is exact in a Python float, so rounding it once gives
    the float32 product the C++ decoder computes."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


class SafeTensors:
    """Minimal safetensors reader: 8-byte little-endian header length, JSON header, raw data."""

    def __init__(self, path):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            self.header = json.loads(f.read(n))
            self.data = memoryview(f.read())
        self.header.pop("__metadata__", None)

    def names(self):
        return sorted(self.header)

    def info(self, name):
        h = self.header[name]
        return h["dtype"], h["shape"]

    def raw(self, name):
        a, b = self.header[name]["data_offsets"]
        return self.data[a:b]

    def array(self, name):
        import numpy as np
        dtype, shape = self.info(name)
        np_dtype = {"BF16": np.uint16, "F32": np.float32, "F8_E4M3": np.uint8, "U8": np.uint8,
                    "F8_E8M0": np.uint8}[dtype]
        return np.frombuffer(self.raw(name), dtype=np_dtype).reshape(shape)


def tensor_kind(st, name):
    """'fp8', 'mxfp4', 'scale' (consumed by its weight), or 'plain'."""
    if name.endswith(".weight_scale_inv") or name.endswith(".weight_scale"):
        return "scale"
    if name.endswith(".weight") and name + "_scale_inv" in st.header:
        return "fp8"
    if name.endswith(".weight") and name + "_scale" in st.header:
        return "mxfp4"
    return "plain"


def decode_element(st, name, r, c):
    """One float32 value of weight `name` at [r, c] (or [r] for 1-D), by the scalar rules."""
    kind = tensor_kind(st, name)
    dtype, shape = st.info(name)
    raw = st.raw(name)
    if kind == "fp8":
        cols = shape[1]
        s_dtype, s_shape = st.info(name + "_scale_inv")
        s_idx = (r // FP8_BLOCK) * s_shape[1] + c // FP8_BLOCK
        scale = struct.unpack_from("<f", st.raw(name + "_scale_inv"), 4 * s_idx)[0]
        return to_float32(e4m3_value(raw[r * cols + c]) * scale)
    if kind == "mxfp4":
        cols = shape[1] * 2
        byte = raw[r * shape[1] + c // 2]
        code = byte & 0xF if c % 2 == 0 else byte >> 4
        scale = st.raw(name + "_scale")[r * (cols // MXFP4_GROUP) + c // MXFP4_GROUP]
        return E2M1_VALUES[code] * e8m0_value(scale)
    idx = r * shape[1] + c if len(shape) == 2 else r
    if dtype == "BF16":
        return bf16_value(struct.unpack_from("<H", raw, 2 * idx)[0])
    if dtype == "F32":
        return struct.unpack_from("<f", raw, 4 * idx)[0]
    raise ValueError(f"{name}: unexpected dtype {dtype}")


def logical_shape(st, name):
    dtype, shape = st.info(name)
    if tensor_kind(st, name) == "mxfp4":
        return [shape[0], shape[1] * 2]
    return list(shape)


def dequantize(st, name):
    """float32 numpy array of weight `name` (vectorised form of decode_element)."""
    import numpy as np
    kind = tensor_kind(st, name)
    a = st.array(name)
    if kind == "fp8":
        table = np.array([e4m3_value(c) for c in range(256)], dtype=np.float32)
        s = st.array(name + "_scale_inv")
        rows, cols = a.shape
        full = np.repeat(np.repeat(s, FP8_BLOCK, axis=0), FP8_BLOCK, axis=1)[:rows, :cols]
        return table[a] * full
    if kind == "mxfp4":
        e2m1 = np.array(E2M1_VALUES, dtype=np.float32)
        e8m0 = np.array([e8m0_value(c) for c in range(256)], dtype=np.float32)
        rows = a.shape[0]
        codes = np.stack([a & 0xF, a >> 4], axis=-1).reshape(rows, -1)
        scales = np.repeat(st.array(name + "_scale"), MXFP4_GROUP, axis=1)
        return e2m1[codes] * e8m0[scales]
    dtype, _ = st.info(name)
    if dtype == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return np.array(a, dtype=np.float32)


def load_float32(model_dir):
    """{hub tensor name: float32 numpy array} and the config without quantization_config."""
    st = SafeTensors(os.path.join(model_dir, "model.safetensors"))
    weights = {n: dequantize(st, n) for n in st.names() if tensor_kind(st, n) != "scale"}
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    cfg.pop("quantization_config", None)
    cfg["dtype"] = "float32"
    return weights, cfg, st


def check_numpy_against_scalar(st, weights, samples=64, seed=0):
    """Max |numpy - scalar reference| over random elements of every tensor (must be 0)."""
    rng = random.Random(seed)
    worst = 0.0
    for name, w in weights.items():
        shape = logical_shape(st, name)
        if list(w.shape) != shape:
            raise RuntimeError(f"{name}: decoded shape {list(w.shape)} != {shape}")
        for _ in range(samples):
            r = rng.randrange(shape[0])
            c = rng.randrange(shape[1]) if len(shape) == 2 else 0
            got = float(w[r, c]) if len(shape) == 2 else float(w[r])
            want = decode_element(st, name, r, c)
            worst = max(worst, abs(got - want))
    return worst


def hand_checks():
    """Codec values checked by hand against docs/formats.md; returns a list of failures."""
    cases = [(e4m3_value(0x00), 0.0), (e4m3_value(0x38), 1.0), (e4m3_value(0x7E), 448.0),
             (e4m3_value(0x01), 2.0**-9), (e4m3_value(0xB8), -1.0), (e4m3_value(0x3C), 1.5),
             (e4m3_value(0x08), 2.0**-6), (e8m0_value(127), 1.0), (e8m0_value(130), 8.0),
             (e8m0_value(0), 2.0**-127), (E2M1_VALUES[0x7], 6.0), (E2M1_VALUES[0xA], -1.0),
             (bf16_value(0x3F80), 1.0), (bf16_value(0xC040), -3.0)]
    bad = [(i, got, want) for i, (got, want) in enumerate(cases) if got != want]
    if not math.isnan(e4m3_value(0x7F)) or not math.isnan(e8m0_value(0xFF)):
        bad.append(("nan", None, None))
    return bad


def compare_with_bf16(st, bf16_dir, samples=200, seed=1):
    """Scalar decode of the mixed checkpoint against the BF16 export it was quantized from:
    (max |expert diff|, max relative FP8 block error)."""
    ref = SafeTensors(os.path.join(bf16_dir, "model.safetensors"))
    rng = random.Random(seed)
    expert_diff, fp8_rel = 0.0, 0.0
    for name in st.names():
        kind = tensor_kind(st, name)
        if kind not in ("fp8", "mxfp4"):
            continue
        shape = logical_shape(st, name)
        if ref.info(name)[1] != shape:
            raise RuntimeError(f"{name}: shape {shape} vs BF16 {ref.info(name)[1]}")
        err, norm = 0.0, 0.0
        for _ in range(samples if kind == "fp8" else samples // 8):
            r, c = rng.randrange(shape[0]), rng.randrange(shape[1])
            got, want = decode_element(st, name, r, c), decode_element(ref, name, r, c)
            if kind == "mxfp4":
                expert_diff = max(expert_diff, abs(got - want))
            err += (got - want) ** 2
            norm += want ** 2
        if kind == "fp8":
            fp8_rel = max(fp8_rel, math.sqrt(err / max(norm, 1e-30)))
    return expert_diff, fp8_rel


def main():
    st = SafeTensors(os.path.join(sys.argv[1], "model.safetensors"))
    bad = hand_checks()
    print("hand checks:", "ok" if not bad else bad)
    kinds = {}
    for n in st.names():
        kinds[tensor_kind(st, n)] = kinds.get(tensor_kind(st, n), 0) + 1
    print("tensors by kind:", kinds)
    ok = not bad
    if len(sys.argv) > 2:
        expert_diff, fp8_rel = compare_with_bf16(st, sys.argv[2])
        print(f"vs BF16 export: max |expert diff| {expert_diff}, worst FP8 rel err {fp8_rel:.4f}")
        ok = ok and expert_diff == 0.0 and fp8_rel < 0.08
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("numpy missing: vectorised decoder not checked")
    else:
        weights, _, _ = load_float32(sys.argv[1])
        worst = check_numpy_against_scalar(st, weights)
        print(f"numpy vs scalar: max |diff| {worst}")
        ok = ok and worst == 0.0
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
