"""Torch's FLOP counter, with the attention kernels it has no formula for (the CPU and MPS ones).

Counted as torch counts: 2 per multiply-add of every matrix product (linear layers, convolutions,
attention's two products; a backward pass twice its forward), nothing for element-wise work. Without the
formulas below, `scaled_dot_product_attention` on a CPU or a Mac counts nothing at all.
"""

from __future__ import annotations


def counter():
    """A fresh `FlopCounterMode` that knows the CPU and MPS attention kernels."""
    import torch
    from torch.utils import flop_counter as fc

    def attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
        return fc.sdpa_flop_count(query, key, value)

    def attention_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
        return fc.sdpa_backward_flop_count(grad_out, query, key, value)

    aten = torch.ops.aten
    extra = {}
    for name, formula in (("_scaled_dot_product_flash_attention_for_cpu", attention),
                          ("_scaled_dot_product_flash_attention_for_cpu_backward", attention_backward),
                          ("_scaled_dot_product_attention_math_for_mps", attention)):
        op = getattr(aten, name, None)
        if op is not None:
            extra[op] = formula
    return fc.FlopCounterMode(display=False, custom_mapping=extra)
