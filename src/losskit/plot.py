"""Plot losses against the prediction: the one place that knows how to draw a loss as a 1-D curve.

Every figure of losskit (``losskit plot``, ``losskit tour``, ``losskit gallery``) goes through
:func:`curve_for`, which reads only the registry: ``curve="regression"`` losses are drawn against
the prediction ``x`` with the label fixed at 0, ``curve="binary"`` losses with the label fixed
at 1, and the losses without a ``curve`` get a small named slice (two-class logits ``[x, 0]``
for softmax cross-entropy, say) or a rule of their family. Gradients come from autograd
(PyTorch, else JAX), never from finite differences.

matplotlib is imported lazily (it is in the optional ``plot`` extra), and this module never
chooses a matplotlib backend, so plots show inline in Jupyter.

>>> from losskit.plot import compare
>>> ax = compare(["L1Loss", "L2Loss", "HuberLoss"])
>>> [line.get_label() for line in ax.get_lines()]
['L1Loss', 'L2Loss', 'HuberLoss']
>>> ax.get_title()
'label fixed at 0'
>>> import matplotlib.pyplot as plt; plt.close("all")
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import math
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import array_api_compat
import numpy as np

from . import _array
from .losses.base import Loss, call_parameters
from .registry import LossInfo, get_loss, loss_info

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Array = Any
LossLike = str | LossInfo | Loss
CurveFn = Callable[[Array], Array]

DEFAULT_RANGE = (-5.0, 5.0)
DEFAULT_POINTS = 201
AUTOGRAD_BACKENDS = ("torch", "jax")
PLOT_EXTRA_HINT = "pip install 'losskit[plot]'"
_LINESTYLES = ("-", "--", "-.", ":")


def require(module: str, purpose: str = "plotting") -> Any:
    """Import an optional dependency, or raise ``ImportError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"losskit {purpose} needs {module.split('.')[0]}: {PLOT_EXTRA_HINT}") from exc


def importable(module: str) -> bool:
    """True when the top-level ``module`` is installed (found without importing it: torch takes seconds)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def progress_bar(total: int, *, quiet: bool, desc: str | None = None, unit: str = "it") -> Any:
    """A tqdm bar on stderr for ``total`` steps; without tqdm (optional: the ``plot`` extra), or
    when ``quiet``, one that shows nothing (``update``, ``set_description``, ``set_postfix_str``
    and ``close`` do nothing)."""
    try:
        from tqdm import tqdm
    except ImportError:

        class _Bar:
            def update(self, n: int = 1) -> None: ...
            def set_description(self, text: str) -> None: ...
            def set_postfix_str(self, text: str) -> None: ...
            def close(self) -> None: ...

        return _Bar()
    return tqdm(total=total, desc=desc, unit=unit, disable=quiet, file=sys.stderr, dynamic_ncols=True)


@dataclass(frozen=True)
class Curve:
    """A loss seen as a function of one number ``x``, ready to draw.

    ``fn`` maps a 1-D array of points (NumPy, PyTorch or JAX) to the loss at each point, in
    the same library, so that autograd can differentiate it. It is ``None`` when the loss has
    no 1-D curve; ``reason`` then says why.
    """

    name: str
    label: str
    fn: CurveFn | None
    what: str = ""
    xlabel: str = "prediction x"
    x_range: tuple[float, float] = DEFAULT_RANGE
    reason: str = ""


# --------------------------------------------------------------------------------------------
# From a loss to a curve


def _resolve(loss: LossLike, params: Mapping[str, Any]) -> tuple[LossInfo, Loss, dict[str, Any]]:
    """The registry entry, an instance, and every constructor parameter's effective value."""
    if not isinstance(loss, Loss):
        info = loss if isinstance(loss, LossInfo) else loss_info(loss)
        _check_batch_axis(info, params)
        return info, get_loss(info.name, **params), {**info.params, **params}
    if params:
        raise ValueError("pass parameters to the loss's constructor, not with an instance")
    info = _registered_info(type(loss))
    # Loss.__repr__'s convention: each constructor parameter is stored as ``self._<name>``
    stored = {**info.params, **_weighting_defaults(info)}
    effective = {name: getattr(loss, "_" + name, default) for name, default in stored.items()}
    _check_batch_axis(info, effective)
    return info, loss, effective


def _registered_info(cls: type) -> LossInfo:
    """The registry entry of ``cls`` or of the nearest registered class it derives from (a user's
    Gluon-style subclass of a losskit loss is plotted with its base's curve and parameters)."""
    for klass in cls.__mro__:
        try:
            return loss_info(klass.__name__)
        except ValueError:
            continue
    raise ValueError(f"{cls.__name__} derives from no registered loss: a curve needs one (see losskit list)")


def _check_batch_axis(info: LossInfo, params: Mapping[str, Any]) -> None:
    """A curve lays its inputs out with the batch first: another ``batch_axis`` would reduce the
    wrong axes (one value for the whole curve, or a shape error), so it is refused."""
    default = _weighting_defaults(info).get("batch_axis")
    if "batch_axis" in params and params["batch_axis"] != default:
        raise ValueError(
            f"{info.name}: a curve evaluates the loss with the batch on axis {default}; "
            f"batch_axis={params['batch_axis']!r} does not apply to it"
        )


def _weighting_defaults(info: LossInfo) -> dict[str, Any]:
    """``weight`` and ``batch_axis`` with the class's defaults (SDMLLoss's weight is 1, the others' None)."""
    parameters = inspect.signature(info.cls).parameters
    return {name: parameters[name].default for name in ("weight", "batch_axis") if name in parameters}


def display_name(loss: LossLike, **params: Any) -> str:
    """The loss's name with the parameters that differ from their defaults, e.g. ``HuberLoss(rho=2)``.

    >>> display_name("huberloss", rho=2)
    'HuberLoss(rho=2)'
    >>> display_name("HingeLoss")
    'HingeLoss'
    >>> display_name("HuberLoss", weight=3.0)
    'HuberLoss(weight=3.0)'
    """
    info, _, effective = _resolve(loss, params)
    return _display(info, effective)


def _display(info: LossInfo, effective: Mapping[str, Any]) -> str:
    defaults = {**info.params, **_weighting_defaults(info)}  # a weight scales the curve: it is named too

    def same(name: str, value: Any) -> bool:
        default = defaults.get(name, value)
        if name == "weight":  # None scales by 1
            value, default = (1 if v is None else v for v in (value, default))
        return value == default

    changed = [f"{k}={v!r}" for k, v in effective.items() if not same(k, v)]
    return f"{info.name}({', '.join(changed)})" if changed else info.name


def _int_like(xp: Any, x: Array, value: int) -> Array:
    # the library's default integer dtype (int32 in JAX without x64, int64 elsewhere)
    return xp.full(x.shape, value, dtype=xp.asarray(0).dtype, device=_array.device(x))


def _two_class_logits(xp: Any, x: Array) -> Array:
    return xp.stack([x, xp.zeros_like(x)], axis=-1)


def _number(label: float | None, default: float) -> float:
    """The value a curve fixes: ``default``, or ``label`` if given, which must then be finite."""
    if label is None:
        return default
    if not math.isfinite(label):
        raise ValueError(f"the curve's label must be a finite number, got {label!r}")
    return float(label)


def _pointwise(loss: Loss, label: float) -> CurveFn:
    """The tutorial's curve: ``loss(x, label)`` with the label the same at every point."""

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        return loss(x, xp.full(x.shape, label, dtype=x.dtype, device=_array.device(x)))

    return fn


def _true_class(label: float | None) -> int:
    if label is None:
        return 0
    if label not in (0, 1):  # 0.5 or nan is no class: int() would truncate it
        raise ValueError(f"the softmax curve has two classes: label must be 0 or 1, got {label!r}")
    return int(label)


def _off_axis(params: Mapping[str, Any], default: int, ndim: int, what: str, items: str = "classes") -> Curve | None:
    """The curve not drawn when the loss's ``axis`` is not an axis of items on the slice's
    ``ndim``-axis ``pred`` (``(N, C)``, or ``(N, C, pixels)``): the batch axis, or out of range."""
    axis = params.get("axis", default)
    if not -ndim <= axis < ndim:
        return Curve("", "", None, reason=f"axis={axis} is out of range for the {what} curve's {ndim}-axis pred")
    if axis % ndim == 0:
        return Curve("", "", None, reason=f"the {what} curve puts the {items} on axis 1 or -1, not the batch axis")
    return None


def _softmax_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # SoftmaxCrossEntropyLoss, and the softmax rule of SoftmaxFocalLoss, PolyLoss and MultiMarginLoss
    cls = _true_class(label)
    if off := _off_axis(params, -1, 2, "softmax"):
        return off
    from_logits = params.get("from_logits", False)  # pred is then log-probabilities, as NLLLoss's

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        logits = _two_class_logits(xp, x)
        pred = _array.log_softmax(xp, logits, axis=-1) if from_logits else logits
        if params.get("sparse_label", True):
            return loss(pred, _int_like(xp, x, cls))
        target = xp.stack([xp.ones_like(x), xp.zeros_like(x)], axis=-1)
        return loss(pred, target if cls == 0 else xp.flip(target, axis=-1))

    if from_logits:
        return Curve("", "", fn, f"two classes, pred log_softmax([x, 0]), true class {cls}", "logit of class 0, x")
    return Curve("", "", fn, f"two classes, pred [x, 0], true class {cls}", "pred of class 0, x")


# the probabilities and rates that a loss takes instead of logits are drawn on an open range:
# at 0 their log is log(eps), and the gradient there, -1/eps, would flatten the gradient panel
_PROB_RANGE = (0.01, 0.99)
_RATE_RANGE = (0.05, 5.0)
_DISTANCE_RANGE = (0.0, 3.0)  # distances are >= 0


def _bce_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    if not params.get("from_sigmoid", False):
        return _rule_curve("binary", loss, label, params)
    z = _number(label, 1.0)
    what = f"probability x, label fixed at {z:g}"
    return Curve("", "", _pointwise(loss, z), what, "predicted probability x", x_range=_PROB_RANGE)


def _multilabel_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # one example per point, as many classes as class_weight has (one without it), each predicted x
    z = _number(label, 1.0)
    class_weight = params.get("class_weight")
    classes = 1 if class_weight is None else len(class_weight)

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        pred = xp.broadcast_to(xp.reshape(x, (-1, 1)), (x.shape[0], classes))
        return loss(pred, xp.full(pred.shape, z, dtype=x.dtype, device=_array.device(x)))

    what = f"label fixed at {z:g}" if classes == 1 else f"{classes} classes, each predicted x, label fixed at {z:g}"
    return Curve("", "", fn, what)


def _nll_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # NLLLoss takes log-probabilities: fed log_softmax([x, 0]), it is the softmax cross-entropy slice
    cls = _true_class(label)
    if off := _off_axis(params, 1, 2, "NLL"):
        return off

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        log_probs = _array.log_softmax(xp, _two_class_logits(xp, x), axis=-1)
        return loss(log_probs, _int_like(xp, x, cls))

    what = f"two classes, log-probabilities log_softmax([x, 0]), true class {cls}"
    return Curve("", "", fn, what, "logit of class 0, x")


def _kl_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # KLDivLoss and JSDLoss: both take log-probabilities when from_logits (their default), else logits
    p = 0.75 if label is None else float(label)
    if not 0 <= p <= 1:
        raise ValueError(f"the divergence curve's label is the target probability of class 0, in [0, 1]; got {label!r}")
    if off := _off_axis(params, -1, 2, "divergence"):
        return off
    target: tuple[float, ...] = (p, 1 - p)
    if params.get("log_target", False):  # KLDivLoss then takes the target's log
        target = tuple(math.log(t) if t > 0 else -math.inf for t in target)

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        logits = _two_class_logits(xp, x)
        pred = _array.log_softmax(xp, logits, axis=-1) if params.get("from_logits", True) else logits
        return loss(pred, xp.stack([xp.full(x.shape, t, dtype=x.dtype) for t in target], axis=-1))

    what = f"log softmax([x, 0]) against target ({p:g}, {1 - p:g})"
    if params.get("log_target", False):
        what += ", passed as its log"
    return Curve("", "", fn, what, "logit of class 0, x")


def _poisson_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    count = _number(label, 1.0)
    fn = _pointwise(loss, count)
    if params.get("from_logits", True):
        return Curve("", "", fn, f"log-rate x, target count {count:g}", "predicted log-rate x")
    return Curve("", "", fn, f"rate x, target count {count:g}", "predicted rate x", x_range=_RATE_RANGE)


def _contrastive_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    y = _number(label, 0.0)
    kind = "a similar pair" if y == 1 else "a dissimilar pair" if y == 0 else f"label {y:g}"
    return Curve("", "", _pointwise(loss, y), f"{kind} (label {y:g})", "distance d", x_range=_DISTANCE_RANGE)


def _percentage_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    """The error relative to the label: fixed at 1, not 0 (where the curve is ``|x| / epsilon``)."""
    value = _number(label, 1.0)
    return Curve("", "", _pointwise(loss, value), f"label fixed at {value:g}")


def _triplet_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    _no_label("triplet", label)

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        anchor = xp.reshape(x, (-1, 1))
        return loss(anchor, xp.zeros_like(anchor), 2 * xp.ones_like(anchor))

    return Curve("", "", fn, "1-D embeddings: anchor x, positive 0, negative 2", "anchor x")


def _cosine_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    if label is not None and label not in (1, -1):
        raise ValueError(f"the cosine embedding curve's label is 1 or -1, got {label!r}")
    y = 1 if label is None else int(label)

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        a = xp.stack([x, xp.ones_like(x)], axis=-1)
        b = xp.stack([xp.ones_like(x), xp.zeros_like(x)], axis=-1)
        return loss(a, b, _int_like(xp, x, y))

    return Curve("", "", fn, f"pair (x, 1) and (1, 0), label {y}", "first coordinate x")


def _class_pair_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # scores [x, 0] of two classes, the target class 0 (or label): MultiLabelMarginLoss given the
    # target list [c, -1], CategoricalHingeLoss and RankingSoftmaxLoss the one-hot target of c
    cls = _true_class(label)
    if off := _off_axis(params, -1, 2, "two-class"):
        return off
    listed = loss_info(type(loss).__name__).name == "MultiLabelMarginLoss"

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        pred = _two_class_logits(xp, x)
        if listed:
            first = _int_like(xp, x, cls)
            return loss(pred, xp.stack([first, xp.full_like(first, -1)], axis=-1))
        target = xp.full(x.shape, float(cls), dtype=x.dtype, device=_array.device(x))
        return loss(pred, xp.stack([1 - target, target], axis=-1))

    return Curve("", "", fn, f"two classes scoring [x, 0], class {cls} the target", "score of class 0, x")


def _hinge_embedding_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # a dissimilar pair (label -1) by default: the hinge max(0, margin - x); label 1 draws x itself
    if label is not None and label not in (1, -1):
        raise ValueError(f"the hinge embedding curve's label is 1 or -1, got {label!r}")
    y = -1 if label is None else int(label)
    kind = "similar" if y == 1 else "dissimilar"
    return Curve("", "", _pointwise(loss, float(y)), f"a {kind} pair: label {y}", "distance x")


def _cosine_distance_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    _no_label("cosine distance", label)
    if off := _off_axis(params, -1, 2, "cosine distance", "vectors"):
        return off

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        return loss(xp.stack([x, xp.ones_like(x)], axis=-1), xp.stack([xp.ones_like(x), xp.zeros_like(x)], axis=-1))

    return Curve("", "", fn, "pred (x, 1) against label (1, 0)", "first coordinate x")


_COSINE_RANGE = (-1.0, 1.0)  # a cosine similarity; ArcFaceLoss and CosFaceLoss refuse values outside


def _cosine_softmax_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # ArcFaceLoss and CosFaceLoss: two classes whose cosines are [x, 0], true class 0 (or label);
    # drawn on [-1, 1] only, as the losses take cosine similarities (ArcFace's jump, its
    # fallback past theta = pi - m, shows at x = -cos(m))
    cls = _true_class(label)
    if off := _off_axis(params, -1, 2, "cosine softmax"):
        return off

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        return loss(_two_class_logits(xp, x), _int_like(xp, x, cls))

    what = f"two classes with cosines [x, 0], true class {cls}"
    return Curve("", "", fn, what, "cosine with class 0, x", x_range=_COSINE_RANGE)


def _distillation_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # DistillationLoss: the student's logits [x, 0] against the teacher's [t, 0], t = 1 (or label):
    # 0 at x = t, where the student matches the teacher
    t = _number(label, 1.0)
    if off := _off_axis(params, -1, 2, "distillation"):
        return off

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        teacher = xp.stack([xp.full(x.shape, t, dtype=x.dtype, device=_array.device(x)), xp.zeros_like(x)], axis=-1)
        return loss(_two_class_logits(xp, x), teacher)

    return Curve("", "", fn, f"student logits [x, 0], teacher logits [{t:g}, 0]", "student logit of class 0, x")


def _per_point(x: Array, at: Callable[[Array], Array]) -> Array:
    """``at`` (one point to one loss) at each point of ``x``, for losses whose batch is the set of negatives.

    Such a loss couples the rows of its batch, so each point needs a batch of its own.
    """
    if array_api_compat.is_jax_array(x):
        import jax

        return jax.vmap(at)(x)  # a Python loop would trace (and compile) every point apart
    xp = array_api_compat.array_namespace(x)
    return xp.stack([at(x[i]) for i in range(x.shape[0])])


def _sdml_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    _no_label("SDML", label)

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        other = xp.ones((1, 1), dtype=x.dtype)
        x2 = xp.concat([xp.zeros_like(other), other])
        return _per_point(x, lambda v: loss(xp.concat([xp.reshape(v, (1, 1)), other]), x2)[0])

    return Curve("", "", fn, "batch of 2 pairs of 1-D points: (x, 0) and (1, 1); loss of pair 0", "x")


def _info_nce_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    _no_label("InfoNCE", label)

    def fn(x: Array) -> Array:
        # pair 0 is (x, 1, 0) and (1, 0, 0): its cosine with its positive is x / sqrt(1 + x^2);
        # pair 1, (0, 0, 1) twice, is orthogonal to both, so pair 0's negatives stay at cosine 0
        xp = array_api_compat.array_namespace(x)
        x2 = xp.asarray([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=x.dtype)
        one, zero = xp.ones((), dtype=x.dtype), xp.zeros((), dtype=x.dtype)
        return _per_point(x, lambda v: loss(xp.stack([xp.stack([v, one, zero]), x2[1, :]]), x2)[0])

    what = "2 pairs (x1, x2): (x,1,0)-(1,0,0), (0,0,1)-(0,0,1); loss of pair 0"
    return Curve("", "", fn, what, "first coordinate of x1[0], x")


def _three_embeddings_slice(kind: str, others: str) -> Callable[[Loss, float | None, Mapping[str, Any]], Curve]:
    """The slice of a loss of labelled embeddings (CircleLoss, NTXentLoss, SupConLoss,
    TripletHardLoss, TripletSemiHardLoss): three unit embeddings, the first along ``(x, 1)``, ``(1, 0)`` of its class
    and ``(0, 1)`` of another; the first's loss."""

    def curve(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
        _no_label(kind, label)

        def fn(x: Array) -> Array:
            # s_p = x / r with (1, 0), s_n = 1 / r with (0, 1), r = sqrt(1 + x^2)
            xp = array_api_compat.array_namespace(x)
            rest = xp.asarray([[1.0, 0.0], [0.0, 1.0]], dtype=x.dtype)
            labels = xp.asarray([0, 0, 1])
            one = xp.ones((), dtype=x.dtype)

            def at(v: Array) -> Array:
                first = xp.stack([v, one]) / xp.sqrt(1 + v * v)
                return loss(xp.concat([xp.reshape(first, (1, 2)), rest]), labels)[0]

            return _per_point(x, at)

        what = f"3 unit embeddings: (x, 1)/|(x, 1)|, {others}; loss of the first"
        return Curve("", "", fn, what, "first coordinate of (x, 1), x")

    return curve


# the mask of the Dice and Tversky curves: one class, this many pixels
_MASK_PIXELS = 4


def _mask_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # DiceLoss, JaccardLoss and TverskyLoss: every pixel of a one-class mask labelled t (1 by default) and predicted
    # sigmoid(x); with t = 1 nothing is a false positive, so Tversky's alpha does not change the curve
    t = 1.0 if label is None else float(label)
    if not 0 <= t <= 1:  # nan included
        raise ValueError(f"the overlap curve's label is the value of every pixel of the mask, in [0, 1]; got {label!r}")
    if off := _off_axis(params, 1, 3, "overlap"):
        return off
    axis = params.get("axis", 1) % 3  # pred is (N, C, pixels) or (N, pixels, C)

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        shape = (x.shape[0], 1, _MASK_PIXELS) if axis == 1 else (x.shape[0], _MASK_PIXELS, 1)
        logits = xp.broadcast_to(xp.reshape(x, (-1, 1, 1)), shape)
        # one class: the loss turns logits into probabilities by a sigmoid, as done here otherwise
        pred = logits if params.get("from_logits", True) else xp.exp(_array.log_sigmoid(xp, logits))
        return loss(pred, xp.full(shape, t, dtype=x.dtype, device=_array.device(x)))

    what = f"one class, {_MASK_PIXELS} pixels all labelled {t:g}, each predicted sigmoid(x)"
    return Curve("", "", fn, what, "logit of every pixel, x")


def _lovasz_softmax_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    # one pixel of two classes scoring [x, 0]: its Lovasz-Softmax is the error 1 - p(true class)
    cls = _true_class(label)
    if off := _off_axis(params, 1, 3, "Lovasz-Softmax"):
        return off
    axis = params.get("axis", 1) % 3  # pred is (N, 2, 1) or (N, 1, 2)
    if params.get("ignore_index") == cls:
        return Curve("", "", None, reason=f"ignore_index={cls} drops the curve's one pixel, of class {cls}")

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        logits = _two_class_logits(xp, x)
        pred = logits if params.get("from_logits", True) else xp.exp(_array.log_softmax(xp, logits, axis=-1))
        pred = xp.expand_dims(pred, axis=2 if axis == 1 else 1)
        return loss(pred, _int_like(xp, xp.reshape(x, (-1, 1)), cls))

    what = f"one pixel, two classes scoring [x, 0], true class {cls}"
    return Curve("", "", fn, what, "logit of class 0, x")


def _ctc_slice(loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    _no_label("CTC", label)
    if params.get("layout", "NTC") != "NTC" or params.get("label_layout", "NT") != "NT":
        return Curve("", "", None, reason="the CTC curve is drawn for layout='NTC', label_layout='NT' only")

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        frame = _two_class_logits(xp, x)  # (N, 2): scores of "a" and of the blank
        return loss(xp.stack([frame, frame], axis=1), _int_like(xp, xp.reshape(x, (-1, 1)), 0))

    return Curve("", "", fn, "2 frames scoring [x, 0] for {a, blank}, label 'a'", "score of 'a', x")


def _no_label(kind: str, label: float | None) -> None:
    if label is not None:
        raise ValueError(f"the {kind} curve has no label to set")


# The binary losses whose label is a probability (the curve of a label of 2 would be a loss below 0).
_PROBABILITY_LABELS = frozenset(
    ("SigmoidBinaryCrossEntropyLoss", "SigmoidFocalLoss", "AsymmetricLoss", "MultiLabelSoftMarginLoss")
)


def _check_binary_label(name: str, label: float, params: Mapping[str, Any]) -> None:
    """A binary loss's label within its range: a probability in [0, 1] (LogisticLoss's signed
    label in [-1, 1]); outside it the curve would draw a loss below 0."""
    if name == "LogisticLoss" and params.get("label_format", "signed") == "signed":
        if not -1 <= label <= 1:
            raise ValueError(f"{name}'s signed label is in [-1, 1] (-1: negative, 1: positive); got {label!r}")
    elif name in _PROBABILITY_LABELS or name == "LogisticLoss":
        if not 0 <= label <= 1:
            raise ValueError(f"{name}'s label is the probability of the positive class, in [0, 1]; got {label!r}")


# Named slices of the losses that the registry gives no ``curve`` and that no family rule draws
# right, and of those whose options change what x is (SigmoidBCE's from_sigmoid) or its shape;
# most new losses need none: they register with curve="regression"/"binary", or fall back to
# their family's rule.
_SLICES: dict[str, Callable[[Loss, float | None, Mapping[str, Any]], Curve]] = {
    "SigmoidBinaryCrossEntropyLoss": _bce_slice,
    "MultiLabelSoftMarginLoss": _multilabel_slice,
    "SoftmaxCrossEntropyLoss": _softmax_slice,
    "NLLLoss": _nll_slice,
    "KLDivLoss": _kl_slice,
    "JSDLoss": _kl_slice,
    "PoissonNLLLoss": _poisson_slice,
    "AbsolutePercentageErrorLoss": _percentage_slice,
    "ContrastiveLoss": _contrastive_slice,
    "TripletLoss": _triplet_slice,
    "TripletMarginLoss": _triplet_slice,
    "CosineEmbeddingLoss": _cosine_slice,
    "CosineDistanceLoss": _cosine_distance_slice,
    "HingeEmbeddingLoss": _hinge_embedding_slice,
    "MultiLabelMarginLoss": _class_pair_slice,
    "CategoricalHingeLoss": _class_pair_slice,
    "RankingSoftmaxLoss": _class_pair_slice,
    "SDMLLoss": _sdml_slice,
    "InfoNCELoss": _info_nce_slice,
    "CircleLoss": _three_embeddings_slice("circle", "(1, 0) of its class, (0, 1) of another"),
    "NTXentLoss": _three_embeddings_slice("NT-Xent", "its positive (1, 0), a negative (0, 1)"),
    "TripletHardLoss": _three_embeddings_slice("batch-hard triplet", "its positive (1, 0), a negative (0, 1)"),
    "TripletSemiHardLoss": _three_embeddings_slice("semi-hard triplet", "its positive (1, 0), a negative (0, 1)"),
    "SupConLoss": _three_embeddings_slice("supervised contrastive", "its positive (1, 0), a negative (0, 1)"),
    "TripletMarginWithDistanceLoss": _triplet_slice,
    "CTCLoss": _ctc_slice,
    "DiceLoss": _mask_slice,
    "JaccardLoss": _mask_slice,
    "TverskyLoss": _mask_slice,
    "LovaszSoftmaxLoss": _lovasz_softmax_slice,
    "ArcFaceLoss": _cosine_softmax_slice,
    "CosFaceLoss": _cosine_softmax_slice,
    "DistillationLoss": _distillation_slice,
}

_RULE_LABEL = {"regression": 0.0, "binary": 1.0, "fill": 0.0}
# what a family's loss without ``curve`` is tried as, in order ("fill": see _fill_curve)
_FAMILY_RULES = {
    "regression": ("regression", "fill", "binary"),
    "classification": ("binary", "softmax", "fill"),
    "metric": ("fill",),
    "segmentation": ("binary", "regression"),
}


def _inputs(loss: Loss) -> list[str]:
    """The names of the arrays the loss's call requires (those without a default)."""
    params = call_parameters(type(loss))
    return [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _fill_curve(loss: Loss, label: float | None) -> Curve:
    """A call of three or more arrays: ``x``, the label, then ones (a variance of 1, say)."""
    names = _inputs(loss)
    if len(names) < 3:
        return Curve("", "", None)
    value = _number(label, _RULE_LABEL["fill"])

    def fn(x: Array) -> Array:
        xp = array_api_compat.array_namespace(x)
        rest = [xp.ones_like(x) for _ in names[2:]]
        return loss(x, xp.full(x.shape, value, dtype=x.dtype, device=_array.device(x)), *rest)

    what = f"{names[1]} fixed at {value:g}, " + ", ".join(f"{name} = 1" for name in names[2:])
    return Curve("", "", fn, what, f"{names[0]} x")


def _rule_curve(rule: str, loss: Loss, label: float | None, params: Mapping[str, Any]) -> Curve:
    if rule == "softmax":
        return _softmax_slice(loss, label, params)
    if rule == "fill":
        return _fill_curve(loss, label)
    value = _number(label, _RULE_LABEL[rule])
    return Curve("", "", _pointwise(loss, value), f"label fixed at {value:g}")


def _fits(fn: CurveFn) -> bool:
    probe = np.linspace(-1.0, 1.0, 3)
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(fn(probe))
    except Exception:
        return False
    return out.shape == probe.shape


def curve_for(loss: LossLike, label: float | None = None, **params: Any) -> Curve:
    """How to draw ``loss`` (a registry name, a :class:`LossInfo` or an instance) as a 1-D curve.

    ``label`` replaces the label the curve fixes (0 for regression, 1 for binary losses); the
    loss is built with ``params``. A loss that cannot be drawn gets ``fn=None`` and a ``reason``.

    >>> import numpy as np
    >>> curve = curve_for("L2Loss")
    >>> curve.what, curve.fn(np.array([-1.0, 0.0, 2.0]))
    ('label fixed at 0', array([0.5, 0. , 2. ]))
    >>> curve_for("HingeLoss", margin=2).label
    'HingeLoss(margin=2)'
    """
    info, instance, effective = _resolve(loss, params)
    if label is not None and math.isfinite(label):
        _check_binary_label(info.name, label, effective)
    reduction = effective.get("reduction", "none")
    if reduction != "none":
        reason = f"reduction={reduction!r} gives one number for the whole batch; use reduction='none'"
        curve = Curve("", "", None, reason=reason)
    elif info.name in _SLICES:  # before the registry's curve kind: some options change what x is
        curve = _SLICES[info.name](instance, label, effective)
    elif info.curve is not None:
        curve = _rule_curve(info.curve, instance, label, effective)
    else:
        call = f"{info.name}({', '.join(_inputs(instance))})"
        reason = f"the registry gives this {info.family} loss no curve kind, and no generic 1-D slice fits {call}"
        curve = Curve("", "", None, reason=reason)
        for rule in _FAMILY_RULES.get(info.family, ()):
            candidate = _rule_curve(rule, instance, label, effective)
            if candidate.fn is not None and _fits(candidate.fn):
                curve = candidate
                break
            if candidate.reason and curve.reason == reason:  # a rule's own reason (an axis, say) says more
                curve = candidate
    return dataclasses.replace(curve, name=info.name, label=_display(info, effective))


# --------------------------------------------------------------------------------------------
# Evaluating a curve, with gradients by autograd


def autograd_backend(backend: str | None = None) -> str:
    """The library that differentiates curves: ``backend`` if given, else PyTorch, else JAX."""
    if backend == "numpy":
        raise ValueError("NumPy has no autograd: gradients need backend='torch' or backend='jax'")
    if backend is not None and backend not in AUTOGRAD_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: numpy, torch, jax")
    for name in (backend,) if backend else AUTOGRAD_BACKENDS:
        if importable(name):
            return name
    wanted = backend or "torch or jax"
    extra = backend or "torch"
    raise RuntimeError(f"gradients are computed by autograd and need {wanted}: pip install 'losskit[{extra}]'")


def curve_data(
    curve: Curve,
    x: Array | None = None,
    *,
    grad: bool = False,
    backend: str | None = None,
    points: int = DEFAULT_POINTS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The points, the loss at each, and (with ``grad``) its derivative, as NumPy arrays.

    Values are computed on ``backend`` (``"numpy"`` by default; with ``grad``, the autograd
    library of :func:`autograd_backend`), in float64 (float32 on JAX, whose default it is).

    >>> x, y, g = curve_data(curve_for("L2Loss"), [-1.0, 1.0, 3.0], grad=True)
    >>> y.tolist(), g.tolist()
    ([0.5, 0.5, 4.5], [-1.0, 1.0, 3.0])
    """
    if curve.fn is None:
        raise ValueError(f"{curve.label} has no 1-D curve: {curve.reason}")
    xs = np.linspace(*curve.x_range, points) if x is None else np.asarray(x, dtype=np.float64)
    if xs.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {xs.shape}")
    if not grad and (backend or "numpy") == "numpy":
        with np.errstate(all="ignore"):
            values, grads = np.asarray(curve.fn(xs), dtype=np.float64), None
    else:
        values, grads = _autograd(curve.fn, xs, autograd_backend(backend), grad=grad)
    if values.shape != xs.shape:  # a loss that reduces over the batch: matplotlib's message would be obscure
        raise ValueError(f"the loss gave values of shape {values.shape} for {xs.size} points, not one per point")
    return xs, values, grads


def _autograd(fn: CurveFn, xs: np.ndarray, backend: str, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
    # Each value depends on its own point only, so the gradient of the sum is the pointwise derivative.
    if backend == "torch":
        import torch

        x: Array = torch.tensor(xs, dtype=torch.float64, requires_grad=grad)
        y = fn(x)
        g = torch.autograd.grad(y.sum(), x)[0].numpy() if grad else None
        return y.detach().numpy(), g
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(xs, dtype=jnp.float32)
    # jit compiles the curve once; eager JAX compiles each operation of it apart, several times slower
    if not grad:
        return np.asarray(jax.jit(fn)(x), dtype=np.float64), None

    def total(v: Array) -> tuple[Array, Array]:
        y = fn(v)
        return jnp.sum(y), y

    (_, y), g = jax.jit(jax.value_and_grad(total, has_aux=True))(x)
    return np.asarray(y, dtype=np.float64), np.asarray(g, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Drawing


def _axes_pair(ax: Any, grad: bool) -> tuple[Any, Any | None]:
    if ax is None:
        plt = require("matplotlib.pyplot")
        if grad:
            _, (value_ax, grad_ax) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
            return value_ax, grad_ax
        _, value_ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
        return value_ax, None
    if grad:
        if not (isinstance(ax, Sequence) and len(ax) == 2) and not (isinstance(ax, np.ndarray) and ax.size == 2):
            raise ValueError("with grad=True, ax must be a pair of Axes: (values, gradient)")
        value_ax, grad_ax = ax if isinstance(ax, Sequence) else ax.ravel()
        return value_ax, grad_ax
    if isinstance(ax, (Sequence, np.ndarray)):
        raise ValueError("with grad=False, ax must be one Axes")
    return ax, None


def draw(
    curves: Sequence[Curve],
    x: Array | None = None,
    *,
    grad: bool = False,
    ax: Any = None,
    backend: str | None = None,
    points: int = DEFAULT_POINTS,
    title: str | None = None,
    legend: bool = True,
) -> tuple[Axes, Axes | None]:
    """Draw ready :class:`Curve` objects; the engine of :func:`plot_loss` and :func:`compare`.

    Each curve is a line whose label is the loss's display name and whose ``gid`` is
    ``"loss:<name>"`` (``"grad:<name>"`` on the gradient panel), so that it can be found again
    in the Axes and in a saved SVG.
    """
    require("matplotlib")
    if not curves:
        raise ValueError("nothing to plot: no losses given")
    for curve in curves:
        if curve.fn is None:
            raise ValueError(f"{curve.label} has no 1-D curve: {curve.reason}")
    value_ax, grad_ax = _axes_pair(ax, grad)
    shared = len({c.what for c in curves}) == 1
    for k, curve in enumerate(curves):
        xs, ys, gs = curve_data(curve, x, grad=grad, backend=backend, points=points)
        label = curve.label if shared or not curve.what else _legend_label(curve)
        # dashes keep curves that coincide (LogisticLoss and SigmoidBCELoss at label 1) both visible
        style = {"label": label, "linestyle": _LINESTYLES[k % len(_LINESTYLES)]}
        (line,) = value_ax.plot(xs, ys, gid=f"loss:{curve.label}", **style)
        if grad_ax is not None:
            grad_ax.plot(xs, gs, gid=f"grad:{curve.label}", color=line.get_color(), **style)
    xlabels = {c.xlabel for c in curves}
    xlabel = xlabels.pop() if len(xlabels) == 1 else "x"
    value_ax.set_title(title if title is not None else (curves[0].what if shared else ""))
    value_ax.set(xlabel=xlabel, ylabel="loss")
    panels = [value_ax]
    if grad_ax is not None:
        grad_ax.set(xlabel=xlabel, ylabel="d loss / d x", title="gradient (autograd)")
        panels.append(grad_ax)
    for panel in panels:
        panel.grid(True, alpha=0.3)
        if legend:
            panel.legend(fontsize="small")
    return value_ax, grad_ax


# legend entries longer than this put what the curve fixes on lines of their own, so that
# the legend of a slice like InfoNCE's stays inside its panel
_LEGEND_WIDTH = 56


def _legend_label(curve: Curve) -> str:
    label = f"{curve.label} [{curve.what}]"
    if len(label) <= _LEGEND_WIDTH:
        return label
    return curve.label + "\n" + textwrap.fill(f"[{curve.what}]", _LEGEND_WIDTH - 8)


@overload
def plot_loss(
    loss: LossLike,
    label: float | None = ...,
    x: Array | None = ...,
    grad: Literal[False] = ...,
    ax: Axes | None = ...,
    *,
    backend: str | None = ...,
    points: int = ...,
    **params: Any,
) -> Axes: ...
@overload
def plot_loss(
    loss: LossLike,
    label: float | None = ...,
    x: Array | None = ...,
    grad: Literal[True] = ...,
    ax: Sequence[Axes] | None = ...,
    *,
    backend: str | None = ...,
    points: int = ...,
    **params: Any,
) -> tuple[Axes, Axes]: ...
def plot_loss(
    loss: LossLike,
    label: float | None = None,
    x: Array | None = None,
    grad: bool = False,
    ax: Any = None,
    *,
    backend: str | None = None,
    points: int = DEFAULT_POINTS,
    **params: Any,
) -> Any:
    """Plot one loss against the prediction ``x`` (label fixed at 0 for regression, 1 for binary).

    Args:
        loss: a registry name (any case, or a Gluon alias), a :class:`LossInfo`, or an instance.
        label: the fixed label, instead of the curve's default.
        x: the points; by default ``points`` points over -5..5 (or the curve's own range).
        grad: add a second panel with the derivative w.r.t. ``x``, computed by autograd.
        ax: the Axes to draw on (a pair of Axes with ``grad``); a new figure when ``None``.
        backend: the array library that computes the values (``"numpy"``, ``"torch"``, ``"jax"``).
        points: how many points ``x`` has when it is not given.
        params: constructor parameters of the loss, e.g. ``rho=2`` or ``margin=0.5``.

    Returns:
        The Axes, or the pair ``(values, gradient)`` of Axes with ``grad=True``.

    >>> from losskit.plot import plot_loss
    >>> ax = plot_loss("HuberLoss", rho=2.0)
    >>> ax.get_xlabel(), ax.get_ylabel(), ax.get_lines()[0].get_label()
    ('prediction x', 'loss', 'HuberLoss(rho=2.0)')
    >>> value_ax, grad_ax = plot_loss("LogisticLoss", grad=True, x=[-1.0, 0.0, 1.0])
    >>> grad_ax.get_lines()[0].get_ydata().round(4).tolist()
    [-0.7311, -0.5, -0.2689]
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    value_ax, grad_ax = draw([curve_for(loss, label, **params)], x, grad=grad, ax=ax, backend=backend, points=points)
    return (value_ax, grad_ax) if grad else value_ax


def compare(
    losses: Sequence[LossLike],
    label: float | None = None,
    x: Array | None = None,
    grad: bool = False,
    ax: Any = None,
    *,
    backend: str | None = None,
    points: int = DEFAULT_POINTS,
    title: str | None = None,
) -> Any:
    """Plot several losses on one figure, with a legend; the arguments are those of :func:`plot_loss`.

    Give losses their parameters by passing instances: ``compare([HuberLoss(rho=2), "L1Loss"])``.

    >>> import losskit
    >>> from losskit.plot import compare
    >>> ax = compare(["LogisticLoss", losskit.HingeLoss(margin=2)], title="label 1")
    >>> [line.get_label() for line in ax.get_lines()], ax.get_title()
    (['LogisticLoss', 'HingeLoss(margin=2)'], 'label 1')
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    curves = [curve_for(loss, label) for loss in losses]
    value_ax, grad_ax = draw(curves, x, grad=grad, ax=ax, backend=backend, points=points, title=title)
    return (value_ax, grad_ax) if grad else value_ax


def new_figure(
    grad: bool = False, width: float | None = None, height: float = 4.2, layout: str | None = "constrained"
) -> tuple[Any, Any]:
    """A figure outside pyplot (for files: no GUI, no global state) and its Axes (a pair with ``grad``)."""
    figure_mod = require("matplotlib.figure")
    fig = figure_mod.Figure(figsize=(width or (11 if grad else 6.4), height), layout=layout)
    axes = fig.subplots(1, 2) if grad else fig.subplots()
    return fig, (tuple(axes) if grad else axes)
