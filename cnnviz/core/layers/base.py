"""The layer contract shared by every layer."""

from __future__ import annotations

from cnnviz.backend import to_numpy


class Layer:
    """A layer: forward(x, training) -> y, backward(dy) -> dx.

    `params` and `grads` are dicts with the same keys (optimizers update params in place);
    `buffers` holds non-trained state (batch-norm running statistics). Forward keeps what
    backward needs on the layer, in eval mode too, so an eval-mode pass can be differentiated
    (saliency maps).
    """

    kind = "Layer"
    # False lets a first layer skip computing dx (backward then returns None): the model's
    # input needs no gradient in training, only for saliency.
    input_grad = True

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.buffers: dict = {}

    def forward(self, x, training: bool = False):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output for one sample's input shape (no batch axis)."""
        return in_shape

    def mult_adds(self, in_shape: tuple[int, ...]) -> int:
        """Multiply-adds for one sample's forward pass."""
        return 0

    def config(self) -> dict:
        """Constructor arguments, JSON-serialisable."""
        return {}

    def spec(self) -> dict:
        """This layer as a spec entry: {"type": kind, **config}."""
        return {"type": self.kind, **self.config()}

    def to(self, backend) -> None:
        """Move params, grads and buffers to `backend` (a cnnviz.backend.Backend)."""
        for store in (self.params, self.grads, self.buffers):
            for k, v in store.items():
                store[k] = backend.to_device(to_numpy(v))
        self.clear_cache()

    def clear_cache(self) -> None:
        """Drop what forward kept for backward."""
        for name in [k for k in vars(self) if k.startswith("_cache")]:
            setattr(self, name, None)

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g[...] = 0

    def astype(self, dtype) -> None:
        """Cast params, grads and buffers (float64 for gradient checks)."""
        for store in (self.params, self.grads, self.buffers):
            for k, v in store.items():
                store[k] = v.astype(dtype)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items())
        return f"{self.kind}({args})"

