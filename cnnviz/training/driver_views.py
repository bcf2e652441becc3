"""What a live run shows besides training: the chosen digit, and the inspection views the
training thread keeps up to date while the GUI watches them (WATCHABLE). No Qt."""

from __future__ import annotations

import functools
import time

import numpy as np

from cnnviz.training.inspect import check_digit

__all__ = ["ATTRIBUTION_INTERVAL", "EMBEDDING_DIGITS", "PREFERRED_SHARE", "WATCHABLE",
           "DriverViews", "quiet"]

#: Inspection views kept up to date while watched: "attribution" with the snapshots, "top",
#: "embedding" and "preferred" at each epoch end ("preferred" also with timeline moments),
#: "attack" when the digit changes and at each epoch end, "stats" every step.
WATCHABLE = ("attribution", "top", "embedding", "preferred", "attack", "stats")
ATTRIBUTION_INTERVAL = 2.0  # s between attributions while training runs (each costs ~0.1 s)
EMBEDDING_DIGITS = 2000
ATTACK_DIGITS = 100  # test digits "attack all" attacks
#: Most of the training time that synthesizing inputs for timeline moments may take: a
#: moment gets fresh ones only when the last took at most this share of the time since.
PREFERRED_SHARE = 0.2


def quiet(method):
    """`method` without overflow warnings (huge weights after a divergence), nesting safely."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return method(*args, **kwargs)
    return wrapper


class DriverViews:
    """The view half of RunDriver (a mixin): it reads the driver's session, state and
    `_busy`, and keeps what each watched view asked for."""

    def _init_views(self) -> None:
        self.digit: int | np.ndarray = 0  # the chosen digit, as check_digit returns it
        self.watched: set[str] = set()  # inspection views kept up to date (WATCHABLE)
        self.attribution_request: tuple = (None, None)  # (target class or None, layer or None)
        self.top_layer: str | None = None
        self.preferred_request: tuple = (None, False)  # (layer, classes)
        self.attack_target = 0
        self.preferred = None  # the newest PreferredInputs, for the timeline's moments
        self._last_snapshot = 0.0
        self._last_attribution = 0.0
        self._last_preferred = -np.inf  # time.monotonic() when it ended

    # -- commands ---------------------------------------------------------------------------

    @quiet
    def choose_digit(self, digit) -> None:
        """Follow `digit` (a test index or a drawing; see check_digit) through the network."""
        if self.session is None:
            return  # a new session starts at test digit 0
        self.digit = check_digit(digit, len(self.session.splits["test"][1]))
        self.session.activations(self.digit)
        if "attribution" in self.watched:
            self._attribution()
        if "attack" in self.watched:
            self._attack()

    def watch(self, view: str, on: bool = True) -> None:
        if view not in WATCHABLE:
            raise ValueError(f"cannot watch {view!r}; choose one of {', '.join(WATCHABLE)}")
        (self.watched.add if on else self.watched.discard)(view)
        if self.session is not None:
            self.session.collect_layer_stats = "stats" in self.watched

    @quiet
    def attribution(self, target: int | None = None, layer: str | None = None) -> None:
        """Saliency, Grad-CAM of `layer` and occlusion for class `target` (None: the predicted
        class; layer None: the last conv layer), now and with every snapshot while watched."""
        self.attribution_request = (target, layer)
        self.watched.add("attribution")
        if self.session is not None:
            self._attribution()

    def top_activations(self, layer: str | None = None) -> None:
        """The top test digits of each channel of `layer`, now and at each epoch end."""
        self.top_layer = layer
        self.watched.add("top")
        if self.session is not None:
            self._top()

    def preferred_inputs(self, layer: str | None = None, classes: bool = False) -> None:
        """Inputs synthesized for each channel of `layer` (or each class), now, at each epoch
        end and with timeline moments while watched."""
        self.preferred_request = (layer, classes)
        self.watched.add("preferred")
        if self.session is not None:
            self._preferred()

    def attack(self, target: int) -> None:
        """A targeted attack on the chosen digit toward class `target`, now and whenever the
        digit changes or an epoch ends while watched."""
        self.attack_target = int(target)
        self.watched.add("attack")
        if self.session is not None:
            self._attack()

    @quiet
    def attack_all(self, target: int) -> None:
        """Targeted attacks toward `target` on the first ATTACK_DIGITS test digits of
        other classes, once (an AttackSummary)."""
        self.attack_target = int(target)
        with self._busy(f"attacking {ATTACK_DIGITS} test digits"):
            self._need_session().attack_all(int(target), ATTACK_DIGITS)

    def embedding(self) -> None:
        """The 2-D embedding of the first test digits, now and at each epoch end."""
        self.watched.add("embedding")
        if self.session is not None:
            self._embedding()

    def snapshots(self) -> None:
        """Fresh kernels, activations (and attribution, when watched) of the live network."""
        self._last_attribution = 0.0
        self._snapshots()

    # -- the policy ---------------------------------------------------------------------------

    @quiet
    def _snapshots(self) -> None:
        """Kernels and the chosen digit's activations now; the attribution too when watched
        (at most every ATTRIBUTION_INTERVAL s while running)."""
        s = self.session
        if s is None:
            return
        s.filters()
        s.batch_sample()
        s.activations(self.digit)
        if "attribution" in self.watched and (
                not self.running
                or time.monotonic() - self._last_attribution >= ATTRIBUTION_INTERVAL):
            self._attribution()
        self._last_snapshot = time.monotonic()

    def _attribution(self) -> None:
        s = self.session
        target, layer = self.attribution_request
        layers = s.conv_layers()
        if target is not None and not 0 <= target < s.model_classes():
            target = None
        if layers:
            s.attribution(self.digit, target, layer if layer in layers else None)
        self._last_attribution = time.monotonic()

    def _views_at_epoch_end(self) -> None:
        """The watched inspections that refresh once per epoch."""
        for view, refresh in (("top", self._top), ("embedding", self._embedding),
                              ("preferred", self._preferred), ("attack", self._attack)):
            if view in self.watched:
                refresh()

    @quiet
    def _top(self) -> None:
        layers = self.session.conv_layers()
        if not layers:
            return
        layer = self.top_layer if self.top_layer in layers else layers[0]
        with self._busy(f"finding the top digits of {layer}"):
            self.session.top_activations(layer)

    @quiet
    def _embedding(self) -> None:
        with self._busy(f"projecting {EMBEDDING_DIGITS} test digits"):
            self.session.embedding(EMBEDDING_DIGITS)

    @quiet
    def _preferred(self) -> None:
        layer, classes = self.preferred_request
        layers = self.session.conv_layers()
        if not classes and layer not in layers:
            if not layers:
                return
            layer = layers[0]
        with self._busy(f"synthesizing what {'each class' if classes else layer} wants"):
            self.preferred = self.session.preferred_inputs(layer, classes)
        self._last_preferred = time.monotonic()

    def _preferred_for_moment(self):
        """PreferredInputs for a timeline moment while watched: fresh when the last took at
        most PREFERRED_SHARE of the time since, else the newest (None: none yet)."""
        if "preferred" not in self.watched:
            return None
        last = self.preferred
        cost = last.seconds if last is not None else 0.0
        if time.monotonic() - self._last_preferred >= cost / PREFERRED_SHARE:
            self._preferred()
        return self.preferred

    @quiet
    def _attack(self) -> None:
        s = self.session
        if 0 <= self.attack_target < s.model_classes():
            s.attack(self.digit, self.attack_target)
