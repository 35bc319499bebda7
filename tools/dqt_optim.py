"""Direct Quantized Training optimizer (Zhao et al., arXiv 2412.04787), reference version.

For every dqt-mode QLinear (integer codes c, fixed per-tensor scale s, effective weight W = s*c):
  g = dL/dW  (gradient w.r.t. the effective weight; QLinear.w_eff.grad, all-reduced first under DDP)
  u = direction(g)                          SGD: g;  momentum: b = mu*b + g, u = b;
                                            AdamW (the authors' MyAdamW form, eps outside the
                                            bias correction):  m = b1*m + (1-b1)*g,
                                            v = b2*v + (1-b2)*g^2,
                                            u = sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
  u += wd * W                               decoupled weight decay (on the pre-update W)
  c <- clamp(R(c - lr * u / s), qmin, qmax) R = stochastic rounding SR(x) = floor(x) + [r < x - floor(x)],
                                            r ~ U[0,1) from torch.rand (24 random bits), or
                                            round-half-even (the "nearest" ablation).
The codes (int8) and the scale are the only weight state; m, v / momentum buffers are float32
optimizer state. Nothing keeps a latent float copy of the weights.

Float parameters (embeddings, untied head, RMSNorm gains) are trained in float32 with the
ordinary optimizer of the same kind (torch.optim.AdamW with the same betas/eps, or SGD);
weight decay applies to the embedding/head, not to norm gains.

Replica determinism: the SR random stream is a torch.Generator seeded with the same seed on
every rank and consumed in the same order (tensor order, then element order), and gradients are
all-reduced before the update, so every replica draws the same numbers and writes the same codes.
"""

from __future__ import annotations

import math

import torch

from dqt_torch import DQTForCausalLM, QLinear


class DQTOptimizer:
    def __init__(self, model: DQTForCausalLM, kind: str = "adamw", betas=(0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, momentum: float = 0.9, rounding: str = "stochastic",
                 seed: int = 1234, device: str | torch.device = "cpu"):
        if kind not in ("sgd", "momentum", "adamw"):
            raise ValueError(f"optimizer kind must be sgd|momentum|adamw, got {kind!r}")
        if rounding not in ("stochastic", "nearest"):
            raise ValueError(f"rounding must be stochastic|nearest, got {rounding!r}")
        self.kind, self.betas, self.eps = kind, betas, eps
        self.weight_decay, self.momentum, self.rounding = weight_decay, momentum, rounding
        self.qlinears: list[tuple[str, QLinear]] = [(n, m) for n, m in model.qlinears() if m.mode == "dqt"]
        self.state: dict[str, dict] = {}
        self.t = 0
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim < 2 else decay).append(p)
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if kind == "adamw":
            self.float_opt = torch.optim.AdamW(groups, lr=0.0, betas=betas, eps=eps)
        else:
            self.float_opt = torch.optim.SGD(groups, lr=0.0, momentum=(momentum if kind == "momentum" else 0.0))
        # statistics of the last step (for logging)
        self.last_flip_fraction = 0.0

    def zero_grad(self):
        self.float_opt.zero_grad(set_to_none=True)
        for _, m in self.qlinears:
            m.w_eff = None

    def grads(self) -> list[torch.Tensor]:
        """Every gradient this optimizer consumes, in a fixed order (for all-reduce / clipping)."""
        out = [m.w_eff.grad for _, m in self.qlinears]
        for g in self.float_opt.param_groups:
            out += [p.grad for p in g["params"] if p.grad is not None]
        return out

    @torch.no_grad()
    def step(self, lr: float, float_lr: float | None = None):
        """One update: codes with lr, float parameters with float_lr (default lr)."""
        self.t += 1
        changed = total = 0
        for name, m in self.qlinears:
            if m.w_eff is None or m.w_eff.grad is None:
                raise RuntimeError(f"{name}: no gradient for the effective weight (forward not run with grad?)")
            g = m.w_eff.grad.float()
            s = float(m.scale)
            u = self._direction(name, g)
            if self.weight_decay > 0:
                u = u + self.weight_decay * (m.codes.float() * s)
            x = m.codes.float() - (lr / s) * u
            if self.rounding == "stochastic":
                r = torch.rand(x.shape, generator=self.gen, device=x.device)
                fl = torch.floor(x)
                x = fl + (r < (x - fl)).float()
            else:
                x = torch.round(x)
            new = x.clamp(m.qmin, m.qmax).to(torch.int8)
            changed += int((new != m.codes).sum())
            total += new.numel()
            m.codes.copy_(new)
        self.last_flip_fraction = changed / max(total, 1)
        for g in self.float_opt.param_groups:
            g["lr"] = lr if float_lr is None else float_lr
        self.float_opt.step()

    def _direction(self, name: str, g: torch.Tensor) -> torch.Tensor:
        st = self.state.setdefault(name, {})
        if self.kind == "sgd":
            return g
        if self.kind == "momentum":
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = g.clone()
            else:
                buf.mul_(self.momentum).add_(g)
            return buf
        b1, b2 = self.betas
        if "exp_avg" not in st:
            st["exp_avg"] = torch.zeros_like(g)
            st["exp_avg_sq"] = torch.zeros_like(g)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        step_size = math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        return (m / (v.sqrt() + self.eps)) * step_size

    # -- checkpointing

    def state_dict(self) -> dict:
        return {"t": self.t, "state": self.state, "gen": self.gen.get_state(),
                "float_opt": self.float_opt.state_dict()}

    def load_state_dict(self, sd: dict):
        self.t = sd["t"]
        self.state = sd["state"]
        self.gen.set_state(sd["gen"])
        self.float_opt.load_state_dict(sd["float_opt"])


class BitNetOptimizer:
    """Baseline: BitNet b1.58 with latent float32 weights (STE), plain torch AdamW/SGD on all parameters."""

    def __init__(self, model: DQTForCausalLM, kind: str = "adamw", betas=(0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, momentum: float = 0.9, **_):
        lin = [m.weight for _, m in model.qlinears()]
        lin_ids = {id(p) for p in lin}
        other = [p for p in model.parameters() if id(p) not in lin_ids]
        groups = [{"params": lin, "weight_decay": weight_decay},
                  {"params": [p for p in other if p.ndim >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in other if p.ndim < 2], "weight_decay": 0.0}]
        if kind == "adamw":
            self.opt = torch.optim.AdamW(groups, lr=0.0, betas=betas, eps=eps)
        else:
            self.opt = torch.optim.SGD(groups, lr=0.0, momentum=(momentum if kind == "momentum" else 0.0))
        self.last_flip_fraction = 0.0
        self.qlinears = [m for _, m in model.qlinears()]
        self._prev = None

    def zero_grad(self):
        self.opt.zero_grad(set_to_none=True)

    def grads(self) -> list[torch.Tensor]:
        return [p.grad for g in self.opt.param_groups for p in g["params"] if p.grad is not None]

    @torch.no_grad()
    def step(self, lr: float, float_lr: float | None = None):
        """BitNet baseline: every parameter is float; lr for the linears, float_lr for the rest."""
        flr = lr if float_lr is None else float_lr
        for g, glr in zip(self.opt.param_groups, (lr, flr, flr)):
            g["lr"] = glr
        prev = [m.quantized()[0].clone() for m in self.qlinears]
        self.opt.step()
        changed = sum(int((m.quantized()[0] != p).sum()) for m, p in zip(self.qlinears, prev))
        self.last_flip_fraction = changed / max(sum(p.numel() for p in prev), 1)

    def state_dict(self) -> dict:
        return {"opt": self.opt.state_dict()}

    def load_state_dict(self, sd: dict):
        self.opt.load_state_dict(sd["opt"])
