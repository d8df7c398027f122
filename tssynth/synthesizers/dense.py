"""DenseVAESynthesizer: a variational autoencoder over fixed-length time-series windows."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import torch

from tssynth._validation import check_bool, check_int
from tssynth.base import BaseSynthesizer, PreparedInput
from tssynth.data.continuous import point_masses
from tssynth.data.memory import fits_in_memory, shown_bytes
from tssynth.data.private import DataBudget, midpoint_and_half_range, private_range
from tssynth.data.schema import declared_bounds
from tssynth.data.sequences import (
    channel_name,
    fitted_columns,
    from_windows,
    to_windows,
    window_labels,
)
from tssynth.exceptions import (
    InvalidDataError,
    InvalidParameterError,
    PrivacyWarning,
    caller_stacklevel,
)
from tssynth.nn.dense import DenseVAE

_CHUNK = 8_192  # windows decoded at once: bounded memory
_CHUNK_VALUES = 4_000_000  # values decoded at once, at most (wide windows)
_SCALE_ROWS = 65_536  # windows scaled at once in float64
_ELBO_DRAWS = 16  # posterior draws averaged by score_samples


_WINDOW_ATTRIBUTES = ("input_format_", "window_length_", "n_channels_", "data_min_", "data_max_")
# Scaled float32 values round to about 2**-24 of the half range: a value this close to a
# frequent one is it.
_EXACT_TOLERANCE = 2.0**-20
# A channel with this share of its values nearer its midpoint than float32's smallest
# normal number of its half range cannot be modelled: they scale to one float32 value.
_LOST_SHARE = 0.05


class DenseVAESynthesizer(BaseSynthesizer):
    """Window VAE: learns many fixed-length series and samples new realistic windows.

    Every window of ``T`` steps and ``d`` channels is scaled per channel to
    [-1, 1], flattened and modelled by an MLP encoder and an MLP decoder with a
    learned sigma per value, trained with the span loss (Gaussian NLL) and a KL
    term like :class:`~tssynth.TVAESynthesizer`. New windows decode draws from a
    Gaussian mixture fitted to the training windows' latent codes, add
    correlated residual noise and are calibrated per channel (see
    ``residual_noise`` and ``marginal_calibration``); they come back in the
    format ``fit`` saw.

    Input formats
    -------------
    - ndarray ``(n, T)`` or ``(n, T, d)``: one window per row.
    - wide DataFrame (``window``, ``sequence_key`` and ``sequence_index`` all None):
      one row per series, one numeric column per step.
    - long DataFrame or Series: one row per step. With ``window``, the series
      (one, or one per ``sequence_key`` entity, ordered by ``sequence_index``) are
      cut into windows of ``window`` steps every ``stride`` steps; without it,
      every entity is one window (all must have the same length).

    Scaling: each channel ``c`` is mapped with the training minimum and maximum
    to ``2 (x - min_c) / (max_c - min_c) - 1``; the decoder output passes through
    ``tanh``, so sampled values always stay inside the training range
    ``[min_c, max_c]``.

    Parameters
    ----------
    embedding_dim : int, default=32
        Size of the latent space.
    compress_dims : tuple of int, default=(256, 256)
        Hidden layer widths of the encoder.
    decompress_dims : tuple of int, default=(256, 256)
        Hidden layer widths of the decoder.
    l2scale : float, default=1e-5
        Weight decay of the Adam optimiser.
    batch_size : int, default=256
        Windows per training batch, at most: data of fewer than four batches
        trains in four batches an epoch, of at least 16 windows (see
        :func:`tssynth.training.training_batch_size`), since one Adam step an epoch
        leaves a small data set's dependencies unlearnt. Under ``epsilon`` the
        expected size of the Poisson-sampled batches, always.
    epochs : int, default=300
    loss_factor : float, default=10.0
        Weight of the reconstruction term against the KL term. Higher than
        TVAE's 2.0: on the Stocks benchmark 10 gave a discriminative score of
        0.119 against 0.146 for 2.0 (one repetition).
    learning_rate : float, default=1e-3
    latent_components : int, default=10
        Gaussian components of the latent sampling distribution, fitted to the
        training windows' posterior means after training (ex-post density
        estimation, Ghosh et al. 2020). On Stocks one Gaussian scored a
        discriminative score of 0.23 and ten components 0.027: the codes of a
        price history lie along a curve, and one Gaussian fills the space around it
        with windows whose price and volume never went together. 1 gives the single
        Gaussian; under differential privacy it is always one (a private release).
    residual_noise : bool, default=True
        Add Gaussian noise with the covariance (across all steps and channels) of
        the training windows' reconstruction residuals to the decoded means. The
        decoder means are smooth: without it, a channel that is white noise comes
        out flat and a spiky one comes out damped. With the calibration below,
        it took the TimeGAN protocol's discriminative score on Energy from 0.500
        to 0.117 (3 repetitions) and on Stocks from 0.077 to 0.014 (5).
    marginal_calibration : bool, default=True
        Map each channel's sampled values through the training quantiles at
        their sampled level (1,001 levels), so every channel keeps its training
        distribution (a uniform noise channel stays uniform, a mostly-zero
        reading keeps its zeros) while the order, and with it the dependence
        across steps and channels, stays the model's.
        Both options read the training data without noise, so neither is fitted
        under differential privacy (``epsilon`` set). :meth:`inverse_transform`
        always returns the decoder means.
    window : int or None, default=None
        Window length for long input (a DataFrame/Series with one row per step).
    stride : int, default=1
        Steps between the starts of consecutive windows of long input.
    sequence_key : column label or None, default=None
        Entity column of long input (one series per entity).
    sequence_index : column label or None, default=None
        Time column of long input; rows are sorted by it within each entity.
    random_state : int or None, default=None
        The same value gives the same fitted model and samples on the CPU.
    device : str or torch.device, default="auto"
    verbose : bool, default=False
    generator_filepath : str or Path, optional
        Where ``fit`` saves the trained generator; an existing file is loaded
        instead of training (after checking T, d and the columns match). A file
        trained on other records (another cross-validation fold) is loaded with a
        ``DataWarning``.
    epsilon : float or None, default=None
        Differential privacy budget (``pip install 'tssynth[privacy]'``): DP-SGD
        with at most this epsilon spent in all, 20 % of it on private per-channel
        bounds (the ``level`` and ``1 - level`` quantiles, widened), 5 % on the
        clipping radii of the latent release, the rest on the gradient steps and
        the latent release (RDP accountant). The private unit is one window:
        overlapping windows cut from one long series share observations, so
        protect a whole series with ``stride=window`` or cut the windows
        yourself. See ``docs/privacy.md``.
    delta : float or None, default=None
        DP delta; ``1 / n_windows`` when None. Must be in (0, 1); only with
        ``epsilon``.
    max_grad_norm : float, default=1.0
        Per-sample gradient clipping norm of DP-SGD.
    early_stopping, validation_fraction, n_iter_no_change : bool, float, int
        Default False, 0.1, 10: stop training once the loss of the held-out share
        of records has not improved for that many epochs (see
        :meth:`tssynth.base.BaseSynthesizer.fit`).

    Attributes
    ----------
    window_length_ : int
        Steps per window ``T``.
    n_channels_ : int
        Channels per step ``d``.
    data_min_, data_max_ : ndarray of shape (d,)
        Per-channel training range used for scaling (private bounds under DP).
    frequent_values_ : list of lists of float
        Per channel, the values held by at least 5 % of its steps (and 3 of them),
        which samples give exactly (none under DP).
    epsilon_, delta_ : float or None
        Privacy budget actually spent (None when trained without ``epsilon``).
    input_format_ : dict
        How ``fit`` received the data, to give samples back in kind.
    n_features_in_ : int
        Columns of a DataFrame fitted on, ``T`` for an (n, T) array, ``d`` for an
        (n, T, d) array.
    feature_names_in_ : ndarray of str or None
        The DataFrame's column names when all are strings, else None.
    module_ : DenseVAE
    loss_history_ : DataFrame

    Examples
    --------
    >>> from tssynth import DenseVAESynthesizer
    >>> from tssynth.datasets import make_sines
    >>> X = make_sines(1000, random_state=0)               # (1000, 24, 5)
    >>> syn = DenseVAESynthesizer(epochs=50, random_state=0).fit(X)  # doctest: +SKIP
    >>> syn.sample(10).shape                                # doctest: +SKIP
    (10, 24, 5)
    """

    _data_attribute_names = (
        *_WINDOW_ATTRIBUTES,
        "frequent_values_",
        "n_features_in_",
        "feature_names_in_",
    )
    _latent_distribution = True
    _allows_missing = False

    def __init__(
        self,
        embedding_dim: int = 32,
        compress_dims: tuple[int, ...] = (256, 256),
        decompress_dims: tuple[int, ...] = (256, 256),
        l2scale: float = 1e-5,
        batch_size: int = 256,
        epochs: int = 300,
        loss_factor: float = 10.0,
        learning_rate: float = 1e-3,
        latent_components: int = 10,
        residual_noise: bool = True,
        marginal_calibration: bool = True,
        window: int | None = None,
        stride: int = 1,
        sequence_key: Any = None,
        sequence_index: Any = None,
        random_state: int | None = None,
        device: str | torch.device = "auto",
        verbose: bool = False,
        generator_filepath: str | None = None,
        epsilon: float | None = None,
        delta: float | None = None,
        max_grad_norm: float = 1.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.l2scale = l2scale
        self.batch_size = batch_size
        self.epochs = epochs
        self.loss_factor = loss_factor
        self.learning_rate = learning_rate
        self.latent_components = latent_components
        self.residual_noise = residual_noise
        self.marginal_calibration = marginal_calibration
        self.window = window
        self.stride = stride
        self.sequence_key = sequence_key
        self.sequence_index = sequence_index
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.generator_filepath = generator_filepath
        self.epsilon = epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    # ------------------------------------------------------------ hooks

    def _validate_params(self) -> None:
        self._validate_common_params()
        for name in ("residual_noise", "marginal_calibration"):
            check_bool(name, getattr(self, name))
        if self.window is not None:
            check_int("window", self.window)
        check_int("stride", self.stride)
        if (
            self.sequence_key is not None
            and self.sequence_index is not None
            and self.sequence_key == self.sequence_index
        ):
            raise InvalidParameterError(
                f"sequence_key and sequence_index must be different columns, both are "
                f"{self.sequence_key!r}."
            )

    def _windows(
        self, X: Any, what: str = "X", fitted: bool = False
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Windows of ``X``, cut as the parameters say (``fitted``: as they were at fit)."""
        if isinstance(X, pd.DataFrame | pd.Series):
            names = ("window", "stride", "sequence_key", "sequence_index")
            cut = {n: self._fitted(n) if fitted else getattr(self, n) for n in names}
            return to_windows(X, what=what, **cut)
        return to_windows(X, what=what)

    def _prepare_input(self, X: Any, metadata: Mapping[str, Any] | None = None) -> PreparedInput:
        windows, input_format = self._windows(X)
        _, T, d = windows.shape
        channels = input_format.get("columns") if input_format["kind"] != "wide" else None
        names = channels if channels is not None else list(range(d))
        bounds = declared_bounds(metadata, names, "X")
        if self.epsilon is not None and self.window is not None and self.stride < self.window:
            warnings.warn(
                f"Under differential privacy, windows cut every {self.stride} step(s) overlap: "
                f"one observation is in up to {-(-self.window // self.stride)} windows, and "
                "the guarantee is per window. Pass stride=window (--stride on the command "
                "line) to protect each observation with the full epsilon.",
                PrivacyWarning,
                stacklevel=caller_stacklevel(),
            )
        signature = [["<steps>", "window", int(T)]] + [
            [repr(name), "channel", "float"] for name in names
        ]
        declared = [bounds.get(name) for name in names]
        if isinstance(X, pd.DataFrame | pd.Series):
            columns = list(X.columns) if isinstance(X, pd.DataFrame) else [X.name]
        else:
            columns = None
        extras = {"input_format": input_format, "bounds": declared, "columns": columns}
        return PreparedInput(windows, signature, extras, len(windows))

    def _fit_data(
        self, prepared: PreparedInput, seed: int, budget: DataBudget | None
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        windows = prepared.data
        _, T, d = windows.shape
        declared = prepared.extras["bounds"]
        if budget is None:
            low, high = windows.min(axis=(0, 1)), windows.max(axis=(0, 1))
        else:
            low, high = self._private_bounds(windows, budget, declared)
        low, high = low.astype(np.float64), high.astype(np.float64)
        for channel, pair in enumerate(declared):
            if pair is not None:
                low[channel], high[channel] = pair
        input_format = prepared.extras["input_format"]
        attributes = {
            "input_format_": input_format,
            "window_length_": int(T),
            "n_channels_": int(d),
            "data_min_": low,
            "data_max_": high,
            # exact values would be a release of their own under DP
            "frequent_values_": _frequent_values(windows) if budget is None else [[]] * d,
            **_input_features(prepared.extras["columns"], _array_width(input_format, T, d)),
        }
        scaled = self._scale(windows, attributes)
        if budget is None:  # under DP, a data-dependent error would be a release
            _check_representable(windows, scaled, attributes, input_format)
        return attributes, [np.clip(scaled, -1.0, 1.0, out=scaled)]

    @staticmethod
    def _private_bounds(
        windows: np.ndarray, budget: DataBudget, declared: list[list[float] | None]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel private bounds (declared ones cost nothing); each window weighs 1 in all."""
        n, T, d = windows.shape
        budget.reserve(3 * sum(pair is None for pair in declared))
        weights = np.full(n * T, 1.0 / T)
        bounds = [
            (0.0, 0.0)
            if declared[c] is not None
            else private_range(
                windows[:, :, c].reshape(-1), weights, budget, f"bounds of channel {c}"
            )
            for c in range(d)
        ]
        low, high = (np.array(b, dtype=np.float64) for b in zip(*bounds, strict=True))
        return low, high

    @staticmethod
    def _centre_and_half_span(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel centre and half range, without overflow for ranges near 1.7e308.

        A constant channel gets centre ``low + 1`` and half range 1, so it maps to -1.
        """
        centre, half = midpoint_and_half_range(low, high)
        constant = ~(half > 0)
        return np.where(constant, low + 1.0, centre), np.where(constant, 1.0, half)

    @classmethod
    def _scale(cls, windows: np.ndarray, attributes: dict[str, Any]) -> np.ndarray:
        """Windows scaled per channel (the fitted range to [-1, 1]) as float32 rows ``(n, T * d)``.

        Scaled in float64 (values far from zero keep their digits) a block of rows at
        a time, so that only the float32 result is as large as the data. Halved before
        subtracting: 1.7e308 minus a midpoint of -1e308 would overflow (halving is exact
        above float64's subnormals, so the result is the same).
        """
        centre, half = cls._centre_and_half_span(attributes["data_min_"], attributes["data_max_"])
        n = len(windows)
        scaled = np.empty((n, int(np.prod(windows.shape[1:]))), dtype=np.float32)
        for start in range(0, n, _SCALE_ROWS):
            block = (windows[start : start + _SCALE_ROWS] / 2.0 - centre / 2.0) / (half / 2.0)
            scaled[start : start + _SCALE_ROWS] = block.reshape(len(block), -1)
        return scaled

    def _unscale(self, scaled: np.ndarray) -> np.ndarray:
        """Windows in data units from scaled ones; the ends of the range and frequent
        values (a mostly-zero reading's 0, a saturated sensor's cap) exactly, where
        float32 rounding left them a few units off (1.4658e-06, 3.2999999999999994)."""
        low, high = self.data_min_, self.data_max_
        centre, half = self._centre_and_half_span(low, high)
        windows = np.clip(scaled.astype(np.float64) * half + centre, low, high)
        windows = np.where(scaled >= 1.0, high, np.where(scaled <= -1.0, low, windows))
        tolerance = half * _EXACT_TOLERANCE
        for channel, values in enumerate(self.frequent_values_):
            if not values:
                continue
            column = windows[..., channel]
            # halves: -1.7e308 minus a frequent 1.7e308 would overflow
            distances = np.abs(column[..., None] / 2.0 - np.asarray(values) / 2.0)
            nearest = distances.argmin(axis=-1)
            near = np.take_along_axis(distances, nearest[..., None], -1)[..., 0]
            close = near <= tolerance[channel] / 2.0
            column[close] = np.asarray(values)[nearest[close]]
        return windows

    def _build_module(self, attributes: dict[str, Any]) -> DenseVAE:
        return DenseVAE(
            attributes["window_length_"],
            attributes["n_channels_"],
            self.embedding_dim,
            self.compress_dims,
            self.decompress_dims,
            self.loss_factor,
        )

    def _data_state(self, attributes: dict[str, Any]) -> dict[str, Any]:
        names = attributes["feature_names_in_"]
        return {
            **{name: attributes[name] for name in _WINDOW_ATTRIBUTES},
            "frequent_values": attributes["frequent_values_"],
            "n_features_in_": attributes["n_features_in_"],
            "columns": None if names is None else list(names),
        }

    def _fit_sampling_model(
        self,
        module: torch.nn.Module,
        arrays: list[np.ndarray],
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        x = torch.as_tensor(arrays[0]).to(device)
        if self.residual_noise:
            module.fit_residual_noise(x, generator)
        if self.marginal_calibration:
            module.fit_calibration(x, generator)

    def _data_attributes(self, state: dict[str, Any]) -> dict[str, Any]:
        attributes = {name: state[name] for name in _WINDOW_ATTRIBUTES}
        # absent from files before it: no value snapped
        attributes["frequent_values_"] = state.get("frequent_values", [[]] * state["n_channels_"])
        if "columns" in state and state["input_format_"]["kind"] != "array":
            attributes.update(_input_features(state["columns"], state["n_features_in_"]))
        else:  # files before these attributes, and arrays (an (n, T) array's T since 0.4.2)
            width = _array_width(
                state["input_format_"], state["window_length_"], state["n_channels_"]
            )
            attributes.update(_input_features(None, width))
        return attributes

    # ------------------------------------------------------------ public API

    def fit(
        self, X: Any, y: Any = None, metadata: Mapping[str, Any] | None = None
    ) -> DenseVAESynthesizer:
        """Learn the distribution of windows.

        Parameters
        ----------
        X : ndarray, DataFrame or Series
            See the class docstring for the formats; ``window``, ``stride``,
            ``sequence_key`` and ``sequence_index`` say how to read long input.
        y : None
            Ignored.
        metadata : dict, optional
            Public schema: ``{"bounds": {channel: [low, high]}}``, channels named
            as the input's columns (integers 0..d-1 for arrays and wide frames).
            Data is clipped to declared bounds in training and samples stay
            inside them; under differential privacy they cost no budget (give
            them wherever the range is known in advance).

        Returns
        -------
        self

        Raises
        ------
        InvalidDataError
            Ragged windows, missing values inside windows, non-numeric columns,
            a window longer than the series, duplicate (entity, time) rows, a
            channel whose range is too wide for its values to be told apart in
            the model's float32 scale (sentinels of +-1.7e308 beside readings near 0).
        """
        return super().fit(X, y, metadata=metadata)

    def _decode(self, z: torch.Tensor, noise: torch.Tensor | None = None) -> np.ndarray:
        with torch.no_grad():
            scaled = self.module_.decode_windows(z, noise)
        return self._unscale(scaled.cpu().numpy())

    def _sample_bytes_per_record(self) -> float:
        return 16.0 * self.window_length_ * self.n_channels_  # float64, and a copy in the format

    def sample(self, n_samples: int) -> Any:
        """Draw ``n_samples`` synthetic windows.

        Consecutive calls continue one random stream; the same ``random_state``
        gives the same sequence of results.

        Parameters
        ----------
        n_samples : int
            Any non-negative number, also larger than the training set.

        Returns
        -------
        Windows in the format ``fit`` saw: ndarray ``(n, T, d)`` (or ``(n, T)``),
        a wide DataFrame with the fitted columns, or a long DataFrame/Series with
        fresh window ids ``0..n-1`` and steps ``0..T-1``.
        """
        n = self._check_n("n_samples", n_samples)
        # float64 values held three times at the peak (the drawn chunks, their
        # concatenation, the result), plus a long result's key and index per step
        needed = n * self.window_length_ * (24 * self.n_channels_ + 16)
        if not fits_in_memory(needed):
            raise InvalidParameterError(
                f"sample({n:,}) would take about {shown_bytes(needed)}, more than half this "
                "machine's memory; draw fewer windows per call (consecutive calls give new "
                "windows)."
            )
        parts = [np.zeros((0, self.window_length_, self.n_channels_))]
        chunk = max(1, min(_CHUNK, _CHUNK_VALUES // (self.window_length_ * self.n_channels_)))
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            z = self._latents(rows)
            parts.append(self._decode(z, self._noise(rows, self.module_.noise_dim)))
        return from_windows(np.concatenate(parts), self.input_format_)

    def _model_array(self, X: Any) -> torch.Tensor:
        self._check_fitted()
        windows, _ = self._windows(fitted_columns(X, self.input_format_), fitted=True)
        _, T, d = windows.shape
        if (T, d) != (self.window_length_, self.n_channels_):
            raise InvalidDataError(
                f"X has windows of {T} steps x {d} channels, but the synthesizer was fitted on "
                f"{self.window_length_} steps x {self.n_channels_} channels."
            )
        attributes = {"data_min_": self.data_min_, "data_max_": self.data_max_}
        return torch.from_numpy(self._scale(windows, attributes)).to(self.device_)

    def transform(self, X: Any) -> np.ndarray:
        """Latent means of the windows of ``X``.

        Parameters
        ----------
        X : ndarray, DataFrame or Series
            Windows in any supported format with the fitted T and d.

        Returns
        -------
        ndarray of shape (n_windows, embedding_dim), float32
            With pandas output (``set_output(transform="pandas")`` or scikit-learn's
            ``transform_output``) and long input, whose rows are steps and not
            windows, a DataFrame indexed by :meth:`window_labels`.
        """
        array = self._model_array(X)
        with torch.no_grad():
            latents = self.module_.encode(array).cpu().numpy()
        cut = self.input_format_["kind"] in ("long", "series")  # rows are steps, not windows
        if not (cut and isinstance(X, pd.DataFrame | pd.Series) and self._pandas_output()):
            return latents
        # scikit-learn would index them by X's rows: by the windows' labels instead
        labels = self.window_labels(X)
        index = (
            pd.MultiIndex.from_frame(labels) if labels.shape[1] > 1 else pd.Index(labels.iloc[:, 0])
        )
        return pd.DataFrame(latents, index=index, columns=self.get_feature_names_out())

    def _pandas_output(self) -> bool:
        """Whether scikit-learn's output setting asks for DataFrames from transform."""
        default = sklearn.get_config()["transform_output"]
        return getattr(self, "_sklearn_output_config", {}).get("transform", default) == "pandas"

    def inverse_transform(self, X: Any) -> Any:
        """Decode latent vectors into windows (the decoder's means).

        Parameters
        ----------
        X : array-like of shape (n, embedding_dim)

        Returns
        -------
        Windows in the fitted format.
        """
        windows = self._decode(self._latent_input(X))
        return from_windows(windows, self.input_format_)

    def window_labels(self, X: Any) -> pd.DataFrame:
        """Where each window of ``X`` begins, in the order of :meth:`score_samples`
        and :meth:`transform`: to tie an anomaly score back to its entity and time.

        Parameters
        ----------
        X : ndarray, DataFrame or Series
            Windows in any supported format, cut as in fit.

        Returns
        -------
        DataFrame, one row per window
            For long frames: the entity (``sequence_key``; windows come in sorted
            key order, then time order), the time of the window's first step
            (``sequence_index``) and its step number within the entity (``step``).
            For arrays of windows and wide frames: the window's number (``window``).
        """
        self._check_fitted()
        X = fitted_columns(X, self.input_format_)
        if not isinstance(X, pd.DataFrame | pd.Series):
            return window_labels(X)
        names = ("window", "stride", "sequence_key", "sequence_index")
        return window_labels(X, **{name: self._fitted(name) for name in names})

    def score_samples(self, X: Any) -> np.ndarray:
        """Evidence lower bound (ELBO) of every window; lower means more anomalous.

        The ELBO is computed on the scaled windows (values in [-1, 1]) and
        averaged over 16 posterior draws whose noise comes from a fixed seed and
        is shared by every window, so a window gets the same score alone, in
        any batch and in any order. Scores compare windows under one fitted model.

        Parameters
        ----------
        X : ndarray, DataFrame or Series
            Windows in any supported format with the fitted T and d.

        Returns
        -------
        ndarray of shape (n_windows,), float64
            In the order of :meth:`window_labels` (for long frames: sorted entity
            keys, then time).
        """
        array = self._model_array(X)
        generator = self._scoring_generator()
        noise = torch.randn(
            (_ELBO_DRAWS, self.module_.embedding_dim), generator=generator, device=self.device_
        )
        scores = [
            self.module_.elbo(array[start : start + _CHUNK], noise)
            for start in range(0, len(array), _CHUNK)
        ]
        return torch.cat(scores).double().cpu().numpy()


def _check_representable(
    windows: np.ndarray, scaled: np.ndarray, attributes: dict[str, Any], fmt: dict[str, Any]
) -> None:
    """Raise when a channel's range is too wide for its values to be modelled.

    A value that is not its channel's midpoint but scales to below float32's smallest
    normal number (1.2e-38 of the half range: readings near 0 beside sentinels of
    ±1.7e308) is one float32 value with all the others there; when that is true of
    ``_LOST_SHARE`` of a channel, its samples would collapse onto that value.
    """
    centre, _ = DenseVAESynthesizer._centre_and_half_span(
        attributes["data_min_"], attributes["data_max_"]
    )
    tiny = np.finfo(np.float32).tiny
    lost = (np.abs(scaled) < tiny).reshape(windows.shape) & (windows != centre)
    share = lost.mean(axis=(0, 1))
    bad = np.flatnonzero(share >= _LOST_SHARE)
    if not bad.size:
        return
    c = int(bad[0])
    t = int(np.flatnonzero(lost[..., c].any(axis=0))[0])
    low, high = attributes["data_min_"][c], attributes["data_max_"][c]
    raise InvalidDataError(
        f"X's {channel_name(fmt, t, c)} spans {low:.4g} to {high:.4g}, so wide that "
        f"{share[c]:.0%} of its values are nearer its midpoint than the model's float32 "
        "values resolve (1e-38 of its half range): samples would give them all one "
        "value. Replace sentinel or out-of-range values (such as +-1.7e308) or rescale "
        "the channel before fitting."
    )


def _frequent_values(windows: np.ndarray) -> list[list[float]]:
    """Each channel's point masses (:func:`~tssynth.data.continuous.point_masses`)."""
    steps = windows.reshape(-1, windows.shape[-1])
    frequent = []
    for column in steps.T:  # one np.unique per channel
        values, counts = np.unique(column, return_counts=True)
        frequent.append(values[point_masses(counts)].tolist())
    return frequent


def _array_width(input_format: dict[str, Any], T: int, d: int) -> int:
    """``X.shape[1]`` of windows given as a wide frame or an (n, T) array (T), else the
    channels of (n, T, d) windows (scikit-learn has no convention for 3-D input)."""
    return T if input_format["kind"] == "wide" or input_format.get("ndim") == 2 else d


def _input_features(columns: list[Any] | None, width: int) -> dict[str, Any]:
    """``n_features_in_`` (the frame's columns, else ``width``) and
    ``feature_names_in_`` (the column names when all are strings, else None)."""
    if columns is None:
        return {"n_features_in_": int(width), "feature_names_in_": None}
    named = all(isinstance(name, str) for name in columns)
    return {
        "n_features_in_": len(columns),
        "feature_names_in_": np.asarray(columns, dtype=object) if named else None,
    }
