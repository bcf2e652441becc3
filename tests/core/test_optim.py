"""Optimizers against hand-computed PyTorch update rules; learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnviz.core.layers import Dense
from cnnviz.core.model import Sequential
from cnnviz.core.optim import (
    OPTIMIZERS,
    SCHEDULES,
    SGD,
    Adagrad,
    Adam,
    RMSprop,
    make_optimizer,
    scheduled_lr,
    scheduled_momentum,
)


def scalar_model(w=1.0, b=-2.0):
    """One Dense(1, 1): params W (1, 1) and b (1,), float64."""
    layer = Dense(1, 1)
    layer.astype(np.float64)
    layer.params["W"][...] = w
    layer.params["b"][...] = b
    return Sequential([layer], input_shape=(1,))


def run(opt, grads_w, grads_b=None):
    """Take one step per gradient with fixed grads; return W after each step."""
    layer = opt.model.layers[0]
    out = []
    for i, g in enumerate(grads_w):
        layer.grads["W"][...] = g
        layer.grads["b"][...] = 0.0 if grads_b is None else grads_b[i]
        opt.step()
        out.append(float(layer.params["W"][0, 0]))
    return out


# ---------------------------------------------------------------- hand-computed, W0 = 1


def test_sgd_plain():
    # p -= 0.1 * 0.5 three times
    assert run(SGD(scalar_model(), lr=0.1), [0.5] * 3) == pytest.approx([0.95, 0.9, 0.85])


def test_sgd_momentum():
    # buf = 0.9 buf + g (buf starts at g); p -= lr * buf
    # buf: .5, .95, 1.355 -> p: .95, .855, .7195
    got = run(SGD(scalar_model(), lr=0.1, momentum=0.9), [0.5] * 3)
    assert got == pytest.approx([0.95, 0.855, 0.7195], abs=1e-12)


def test_sgd_nesterov():
    # step uses g + 0.9 * buf: .95, 1.355, 1.7195 -> p: .905, .7695, .59755
    got = run(SGD(scalar_model(), lr=0.1, momentum=0.9, nesterov=True), [0.5] * 3)
    assert got == pytest.approx([0.905, 0.7695, 0.59755], abs=1e-12)


def test_sgd_weight_decay():
    # g' = g + 0.1 p: .6, .594, .58806 -> p: .94, .8806, .821794
    got = run(SGD(scalar_model(), lr=0.1, weight_decay=0.1), [0.5] * 3)
    assert got == pytest.approx([0.94, 0.8806, 0.821794], abs=1e-12)


def test_sgd_momentum_with_weight_decay():
    # g' = .5 + .1 p; buf = .9 buf + g'
    # 1: g' .6, buf .6, p .94; 2: g' .594, buf 1.134, p .8266; 3: g' .58266, buf 1.60326, p .666274
    got = run(SGD(scalar_model(), lr=0.1, momentum=0.9, weight_decay=0.1), [0.5] * 3)
    assert got == pytest.approx([0.94, 0.8266, 0.666274], abs=1e-12)


def test_adagrad():
    # sum: .25, .5, .75; p -= .1 * .5 / (sqrt(sum) + 1e-10)
    got = run(Adagrad(scalar_model(), lr=0.1), [0.5] * 3)
    assert got == pytest.approx([0.90000000002, 0.8292893219113453, 0.7715542949990494],
                                abs=1e-12)
    assert Adagrad(scalar_model()).eps == 1e-10


def test_rmsprop():
    # sq = .99 sq + .01 g^2: .0025, .004975, .00742525; p -= .01 * .5 / (sqrt(sq) + 1e-8)
    got = run(RMSprop(scalar_model(), lr=0.01), [0.5] * 3)
    assert got == pytest.approx([0.900000019999996, 0.8291119095494123, 0.7710870078067141],
                                abs=1e-12)
    opt = RMSprop(scalar_model())
    assert (opt.alpha, opt.eps) == (0.99, 1e-8)


def test_adam_bias_correction():
    # g = .5, -1, .25; m, v with betas (.9, .999); m_hat = m / (1 - .9^t), v_hat likewise;
    # p -= .1 * m_hat / (sqrt(v_hat) + 1e-8). Step 1 moves by lr exactly (bias-corrected).
    got = run(Adam(scalar_model(), lr=0.1), [0.5, -1.0, 0.25])
    assert got == pytest.approx([0.9000000019999999, 0.9366103542405653, 0.950279420338976],
                                abs=1e-12)


def test_changing_lr_and_momentum_between_steps():
    opt = SGD(scalar_model(), lr=0.1, momentum=0.9)
    run(opt, [0.5])  # buf .5, p .95
    opt.lr, opt.momentum = 0.2, 0.5
    # buf = .5 * .5 + .5 = .75; p = .95 - .2 * .75 = .8
    assert run(opt, [0.5]) == pytest.approx([0.8], abs=1e-12)
    opt.lr = 0.0
    assert run(opt, [0.5]) == pytest.approx([0.8], abs=1e-12)

    adam = Adam(scalar_model(), lr=0.1)
    run(adam, [0.5])
    adam.lr, adam.momentum = 0.05, 0.5
    # m = .5 * .05 + .5 * (-1) = -.475, m_hat = -.475 / (1 - .25) ;
    # v = .999 * .00025 + .001 = .00124975, v_hat = v / (1 - .999^2)
    m_hat = -0.475 / 0.75
    v_hat = 0.00124975 / (1 - 0.999**2)
    expected = 0.9000000019999999 - 0.05 * m_hat / (math.sqrt(v_hat) + 1e-8)
    assert run(adam, [-1.0]) == pytest.approx([expected], abs=1e-12)


# ---------------------------------------------------------------- many params vs torch's loops


def torch_reference(kind, params, grads_seq, lr, momentum=0.0, nesterov=False, wd=0.0):
    """Transcription of torch.optim's single-tensor loops (defaults: Adagrad eps 1e-10,
    RMSprop alpha .99 eps 1e-8, Adam betas (.9, .999) eps 1e-8)."""
    params = [p.copy() for p in params]
    state = [{} for _ in params]
    for t, grads in enumerate(grads_seq, start=1):
        for p, g, s in zip(params, grads, state, strict=True):
            g = g + wd * p if wd else g
            if kind == "sgd":
                if momentum:
                    s["buf"] = g.copy() if "buf" not in s else momentum * s["buf"] + g
                    g = g + momentum * s["buf"] if nesterov else s["buf"]
                p -= lr * g
            elif kind == "adagrad":
                s["sum"] = s.get("sum", 0) + g * g
                p -= lr * g / (np.sqrt(s["sum"]) + 1e-10)
            elif kind == "rmsprop":
                s["sq"] = 0.99 * s.get("sq", 0) + 0.01 * g * g
                p -= lr * g / (np.sqrt(s["sq"]) + 1e-8)
            elif kind == "adam":
                s["m"] = 0.9 * s.get("m", 0) + 0.1 * g
                s["v"] = 0.999 * s.get("v", 0) + 0.001 * g * g
                denom = np.sqrt(s["v"]) / math.sqrt(1 - 0.999**t) + 1e-8
                p -= lr / (1 - 0.9**t) * s["m"] / denom
    return params


def dense_model(seed=0):
    layer = Dense(3, 2, rng=np.random.default_rng(seed))
    layer.astype(np.float64)
    layer.params["b"][...] = [0.3, -0.7]
    return Sequential([layer], input_shape=(3,))


CASES = [
    ("sgd", {}, {}),
    ("momentum", {"momentum": 0.9}, {"momentum": 0.9}),
    ("nesterov", {"momentum": 0.8}, {"momentum": 0.8, "nesterov": True}),
    ("sgd", {"weight_decay": 0.01}, {"wd": 0.01}),
    ("nesterov", {"momentum": 0.9, "weight_decay": 0.05}, {"momentum": 0.9, "nesterov": True,
                                                            "wd": 0.05}),
    ("adagrad", {}, {}),
    ("adagrad", {"weight_decay": 0.1}, {"wd": 0.1}),
    ("rmsprop", {}, {}),
    ("adam", {}, {}),
    ("adam", {"weight_decay": 0.01}, {"wd": 0.01}),
]


@pytest.mark.parametrize("name,kwargs,ref_kwargs", CASES)
def test_make_optimizer_matches_torch_rules(name, kwargs, ref_kwargs):
    model = dense_model()
    rng = np.random.default_rng(1)
    grads_seq = [[rng.standard_normal(p.shape) for _, p, _ in model.parameters()]
                 for _ in range(3)]
    start = [p.copy() for _, p, _ in model.parameters()]
    kind = {"momentum": "sgd", "nesterov": "sgd"}.get(name, name)
    lr = 0.05
    expected = torch_reference(kind, start, grads_seq, lr, **ref_kwargs)
    opt = make_optimizer(name, model, lr, **kwargs)
    for grads in grads_seq:
        for (_, _, g), new in zip(model.parameters(), grads, strict=True):
            g[...] = new
        opt.step()
    assert opt.t == 3
    for (pname, p, _), e, s in zip(model.parameters(), expected, start, strict=True):
        np.testing.assert_allclose(p, e, rtol=1e-12, atol=1e-14, err_msg=pname)
        assert not np.allclose(p, s), "the optimizer must move the params"


def test_make_optimizer_kinds_and_unknown_name():
    model = dense_model()
    assert type(make_optimizer("sgd", model, 0.1)) is SGD
    assert make_optimizer("sgd", model, 0.1).momentum == 0
    mom = make_optimizer("momentum", model, 0.1)
    assert (mom.momentum, mom.nesterov) == (0.9, False)
    assert make_optimizer("nesterov", model, 0.1).nesterov is True
    assert type(make_optimizer("adagrad", model, 0.1)) is Adagrad
    assert type(make_optimizer("rmsprop", model, 0.1)) is RMSprop
    adam = make_optimizer("adam", model, 0.1)
    assert type(adam) is Adam and adam.momentum == 0.9 and adam.beta2 == 0.999
    assert make_optimizer("adam", model, 0.1, weight_decay=0.3).weight_decay == 0.3
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}
    with pytest.raises(ValueError) as info:
        make_optimizer("lbfgs", model, 0.1)
    msg = str(info.value)
    assert "lbfgs" in msg and all(name in msg for name in OPTIMIZERS)
    with pytest.raises(ValueError):
        SGD(model, 0.1, momentum=0.0, nesterov=True)


def test_zero_grad_clears_model_grads():
    model = dense_model()
    opt = SGD(model, 0.1)
    for _, _, g in model.parameters():
        g[...] = 1.0
    opt.zero_grad()
    assert not any(np.any(g) for _, _, g in model.parameters())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_continues_identically(name):
    rng = np.random.default_rng(2)
    grads_seq = [[rng.standard_normal(p.shape) for _, p, _ in dense_model().parameters()]
                 for _ in range(4)]

    def step(opt, grads):
        for (_, _, g), new in zip(opt.model.parameters(), grads, strict=True):
            g[...] = new
        opt.step()

    a = make_optimizer(name, dense_model(), 0.05, weight_decay=0.01)
    for grads in grads_seq[:2]:
        step(a, grads)
    a.lr = 0.02  # a changed hyper-parameter travels with the state
    saved_opt, saved_model = a.state_dict(), a.model.state_dict()
    assert saved_opt["kind"] == a.kind and saved_opt["t"] == 2
    assert all(isinstance(v, np.ndarray) for v in saved_opt["state"].values())
    if name != "sgd":
        assert saved_opt["state"], "stateful optimizers must save their slots"

    b_model = dense_model(seed=9)
    b_model.load_state_dict(saved_model)
    b = make_optimizer(name, b_model, 0.5)
    b.load_state_dict(saved_opt)
    assert b.t == 2 and b.lr == 0.02 and b.weight_decay == 0.01
    for grads in grads_seq[2:]:
        step(a, grads)
        step(b, grads)
    for (n, pa, _), (_, pb, _) in zip(a.model.parameters(), b.model.parameters(),
                                      strict=True):
        np.testing.assert_array_equal(pa, pb, err_msg=n)
    # the saved state is a copy: stepping did not change it
    again = make_optimizer(name, dense_model(seed=9), 0.5)
    again.load_state_dict(saved_opt)
    assert again.t == 2


def test_load_state_dict_rejects_other_kinds_and_shapes():
    a = Adam(dense_model(), 0.1)
    for _, _, g in a.model.parameters():
        g[...] = 1.0
    a.step()
    with pytest.raises(ValueError, match="Adam"):
        SGD(dense_model(), 0.1).load_state_dict(a.state_dict())
    other = Sequential([Dense(4, 2)], input_shape=(4,))
    with pytest.raises(ValueError):
        Adam(other, 0.1).load_state_dict(a.state_dict())


# ---------------------------------------------------------------- schedules


def test_constant_schedule():
    assert [scheduled_lr("constant", 0.3, s, 10) for s in (0, 5, 10)] == [0.3, 0.3, 0.3]


def test_step_schedule():
    got = [scheduled_lr("step", 1.0, s, 9) for s in range(9)]
    assert got == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01])
    got = [scheduled_lr("step", 0.5, s, 100, step_size=4, gamma=0.5) for s in (0, 3, 4, 8, 13)]
    assert got == pytest.approx([0.5, 0.5, 0.25, 0.125, 0.0625])


def test_cosine_schedule():
    total = 50
    got = [scheduled_lr("cosine", 0.2, s, total) for s in range(total + 1)]
    assert got[0] == pytest.approx(0.2)
    assert got[25] == pytest.approx(0.1)
    assert got[-1] == pytest.approx(0.0, abs=1e-12)
    assert got[-2] < 0.2 * 0.01
    assert all(a >= b for a, b in zip(got, got[1:], strict=False))


def torch_onecycle(max_lr, step, total, pct_start=0.3, div=25.0, final_div=1e4):
    """torch.optim.lr_scheduler.OneCycleLR (anneal_strategy='cos', two phases) at `step`."""
    initial, minimum = max_lr / div, max_lr / div / final_div
    phases = [(pct_start * total - 1, initial, max_lr), (total - 1, max_lr, minimum)]
    start_step = 0.0
    for i, (end_step, lo, hi) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            pct = (step - start_step) / (end_step - start_step)
            return hi + (lo - hi) / 2 * (math.cos(math.pi * pct) + 1)
        start_step = end_step
    raise AssertionError


def test_onecycle_schedule():
    base, total = 1.0, 100
    got = [scheduled_lr("onecycle", base, s, total) for s in range(total)]
    assert got[0] == pytest.approx(base / 25, rel=1e-12)
    assert got[29] == pytest.approx(base, rel=1e-12)  # the peak at 30%
    assert max(got) == got[29]
    assert got[99] == pytest.approx(base / 25e4, rel=1e-9)
    # hand-derived: warm-up step 10, pct 10/29: 1 + (0.04 - 1) / 2 * (1 + cos(10 pi / 29))
    assert got[10] == pytest.approx(0.29516394846410077, rel=1e-12)
    # annealing midpoint, step 64: pct (64 - 29) / 70 = 1/2 -> (max + min) / 2
    assert got[64] == pytest.approx((1 + 4e-6) / 2, rel=1e-12)
    assert all(a < b for a, b in zip(got[:29], got[1:30], strict=True))
    assert all(a > b for a, b in zip(got[29:], got[30:], strict=False))
    for t, steps in ((100, range(100)), (37, range(37)), (10, range(10))):
        for s in steps:
            assert scheduled_lr("onecycle", 0.3, s, t) == pytest.approx(
                torch_onecycle(0.3, s, t), rel=1e-12), (t, s)


def test_onecycle_momentum():
    total = 100
    got = [scheduled_momentum("onecycle", 0.9, s, total) for s in range(total)]
    assert got[0] == pytest.approx(0.95)
    assert got[29] == pytest.approx(0.85)
    assert got[99] == pytest.approx(0.95)
    assert min(got) == got[29]
    assert scheduled_momentum("cosine", 0.9, 50, total) == 0.9
    assert scheduled_momentum("constant", 0.7, 3, total) == 0.7


@pytest.mark.parametrize("base", [0.0, 0.5, 0.8, 0.9, 0.99])
def test_onecycle_momentum_follows_the_base_value(base):
    """The Momentum box must change the optimizer's momentum under one-cycle too: the cycle
    swings 0.1 around the base value, clipped to [0, 0.999]."""
    total = 100
    got = np.array([scheduled_momentum("onecycle", base, s, total) for s in range(total)])
    high = min(base + 0.05, 0.999)
    assert got[0] == pytest.approx(high) and got[-1] == pytest.approx(high)
    assert got.min() == pytest.approx(max(high - 0.1, 0.0))
    assert (got >= 0).all() and (got < 1).all()
    other = 0.3 if base > 0.5 else 0.8
    assert not np.allclose(got, [scheduled_momentum("onecycle", other, s, total)
                                 for s in range(total)])


def test_unknown_schedule():
    assert set(SCHEDULES) == {"constant", "step", "cosine", "onecycle"}
    with pytest.raises(ValueError) as info:
        scheduled_lr("linear", 0.1, 0, 10)
    assert all(name in str(info.value) for name in SCHEDULES)


def test_onecycle_stays_at_its_final_value_past_the_end():
    """step is clamped to total_steps; the anneal must not turn back up past its end."""
    base, total = 1.0, 100
    final = base / 25e4
    for s in (total - 1, total, total + 5):
        assert scheduled_lr("onecycle", base, s, total) == pytest.approx(final, rel=1e-9), s
        assert scheduled_momentum("onecycle", 0.9, s, total) == pytest.approx(0.95), s
    assert scheduled_lr("cosine", base, total + 5, total) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_values_decayed_near_subnormal_are_flushed_every_few_steps(name):
    """Weights without gradient decay towards float32's subnormal range (slow on x86):
    at every FLUSH_EVERY-th step, |values| below FLUSH_BELOW in params and slots become 0
    and larger ones are kept; steps in between leave them alone (plain SGD, zero gradient:
    nothing else moves them)."""
    from cnnviz.core.optim import FLUSH_BELOW, FLUSH_EVERY

    layer = Dense(3, 1)
    model = Sequential([layer], input_shape=(3,))
    opt = make_optimizer(name, model, lr=1e-3)
    layer.grads["W"][...] = np.array([[0.0], [0.0], [1e-3]], np.float32)
    layer.grads["b"][...] = 0
    tiny, small = np.float32(FLUSH_BELOW / 100), np.float32(1e-3)
    while opt.t < FLUSH_EVERY - 1:
        opt.step()
        if name == "sgd":
            layer.params["W"][0, 0] = tiny
    if name == "sgd":
        assert layer.params["W"][0, 0] == tiny  # not flushed between
    arrays = [layer.params["W"], *opt.state.get("0.Dense.W", {}).values()]
    for a in arrays:
        a[:2, 0] = (tiny, small)
    opt.step()
    assert opt.t == FLUSH_EVERY
    for a in arrays:
        a = np.abs(a)
        assert not ((a > 0) & (a < FLUSH_BELOW)).any(), a
        assert a[1, 0] > FLUSH_BELOW
    for slot in arrays[1:]:  # (Adam's step itself can move the weight above the threshold)
        assert slot[0, 0] == 0
    if name != "adam":
        assert layer.params["W"][0, 0] == 0
