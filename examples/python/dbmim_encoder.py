"""A dbmim encoder in PyTorch.

`dbmim export --model RUN --out encoder.safetensors` writes the 3-D ViT encoder of a dbmim run as
safetensors; this file rebuilds the same network as a torch.nn.Module and loads the file with plain
Python (struct + json + torch.frombuffer: nothing is executed, no package beyond torch and numpy).

    from dbmim_encoder import load_encoder
    model = load_encoder("encoder.safetensors")      # eval mode, float32
    tokens = model(crop)                               # crop [B, 1, Z, Y, X] in [0, 1] -> [B, N, D]

Command line (reading the crop needs h5py, used only here):

    python3 dbmim_encoder.py encoder.safetensors data.h5[:volumes/raw] z0,y0,x0 [--out tokens.npy]

prints the tokens' shape and checksums (sum, sum of |x|), comparable with `dbmim embed`.
"""

import json
import struct
import sys

import numpy as np
import torch
from torch import nn

LAYOUT = "dbmim-vit3d-v1"
DTYPES = {"F32": torch.float32, "I32": torch.int32}


def read_safetensors(path):
    """(tensors by name, metadata dict) of a safetensors file, validated; no code runs."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file (truncated?)")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n :]
    tensors = {}
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {e['dtype']}")
        begin, end = e["data_offsets"]
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        if end - begin != 4 * count or end > len(body):
            raise ValueError(f"{path}: tensor {name} has inconsistent offsets {begin}..{end}")
        # bytearray: a writable copy, so torch does not warn about read-only memory
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=DTYPES[e["dtype"]])
        tensors[name] = t.reshape(e["shape"])
    return tensors, meta


class QuickGELU(nn.Module):
    """x * sigmoid(alpha * x): dbmim's activation (cheap in WebAssembly), within 0.02 of exact GELU."""

    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return x * torch.sigmoid(self.alpha * x)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, alpha):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = QuickGELU(alpha)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block, as dbmim's."""

    def __init__(self, dim, heads, hidden, eps, alpha):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, hidden, alpha)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed3d(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv3d(1, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, D], patches z slowest


class DbmimEncoder(nn.Module):
    """dbmim's 3-D ViT encoder: standardize, patch projection + position, blocks, final norm."""

    def __init__(self, cfg):
        super().__init__()
        if cfg.get("layout") != LAYOUT:
            raise ValueError(f"unsupported layout {cfg.get('layout')!r} (expected {LAYOUT})")
        self.cfg = cfg
        d = cfg["embedDim"]
        n = int(np.prod([c // p for c, p in zip(cfg["crop"], cfg["patch"])]))
        self.patch_embed = PatchEmbed3d(tuple(cfg["patch"]), d)
        self.pos_embed = nn.Parameter(torch.zeros(1, n, d))
        self.blocks = nn.ModuleList(
            Block(d, cfg["heads"], cfg["mlpHidden"], cfg["layerNormEps"], cfg["geluAlpha"])
            for _ in range(cfg["depth"])
        )
        self.norm = nn.LayerNorm(d, eps=cfg["layerNormEps"])

    def forward(self, raw):
        """raw [B, 1, Z, Y, X] in [0, 1] (uint8 / 255, uint16 / 65535) -> tokens [B, N, D]."""
        x = (raw - self.cfg["inputMean"]) / self.cfg["inputStd"]
        x = self.patch_embed(x) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


def load_encoder(path):
    """The encoder of a `dbmim export` file, weights loaded (every tensor must match), in eval mode."""
    tensors, meta = read_safetensors(path)
    if "dbmim.config" not in meta:
        raise ValueError(f"{path}: no 'dbmim.config' in the metadata (not written by dbmim export?)")
    model = DbmimEncoder(json.loads(meta["dbmim.config"]))
    own = {k: v for k, v in tensors.items() if not k.startswith("seg.")}  # the affinity decoder is not built here
    model.load_state_dict(own, strict=True)
    return model.eval()


def read_crop(ref, offset, size):
    """A crop of an HDF5 raw volume as float32 in [0, 1], scaled as dbmim reads raw EM."""
    import h5py  # only the command line needs it

    path, _, key = ref.partition(":")
    with h5py.File(path, "r") as f:
        ds = f[key or "volumes/raw"]
        z, y, x = offset
        a = ds[z : z + size[0], y : y + size[1], x : x + size[2]]
    if a.shape != tuple(size):
        raise ValueError(f"crop {size} at {offset} does not fit volume {ds.shape} of {ref}")
    scale = {np.dtype("uint8"): 255.0, np.dtype("uint16"): 65535.0}.get(a.dtype, 1.0)
    return a.astype(np.float32) / np.float32(scale)


def main(argv):
    if len(argv) < 3:
        print("usage: python3 dbmim_encoder.py MODEL.safetensors DATA.h5[:key] z0,y0,x0 [--out tokens.npy]",
              file=sys.stderr)
        return 2
    model = load_encoder(argv[0])
    offset = [int(v) for v in argv[2].split(",")]
    crop = read_crop(argv[1], offset, model.cfg["crop"])
    with torch.no_grad():
        tokens = model(torch.from_numpy(crop)[None, None])[0].numpy()
    print(json.dumps({"shape": list(tokens.shape), "sum": float(tokens.sum(dtype=np.float64)),
                      "absSum": float(np.abs(tokens).sum(dtype=np.float64))}))
    if "--out" in argv:
        np.save(argv[argv.index("--out") + 1], tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
