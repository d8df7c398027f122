"""DVAESynthesizer: a dynamical VAE for variable-length, mixed-type sequences (panels)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from tssynth._validation import check_bool, check_float, check_int
from tssynth.base import INDEX_ENTRY, BaseSynthesizer, PreparedInput
from tssynth.data.memory import fits_in_memory, memory_budget, shown_bytes
from tssynth.data.panel import (
    LongPanel,
    PanelTransformer,
    nearest_rows,
    read_panel,
    static_feature_columns,
)
from tssynth.data.private import DataBudget
from tssynth.data.schema import ColumnSpec
from tssynth.data.sequences import pad_sequences
from tssynth.data.time_index import IndexClock
from tssynth.exceptions import (
    DataWarning,
    InvalidDataError,
    InvalidParameterError,
    caller_stacklevel,
)
from tssynth.nn.dvae import DVAE, length_chunks
from tssynth.nn.ragged import Ragged
from tssynth.training import TrainingConfig, piece_steps, training_batch_size

_CHUNK = 1_024  # sequences run through the model at once: bounded memory
_ELBO_DRAWS = 8  # posterior draws averaged by score_samples
# Training memory (fit's peak), measured: per step of one sequence of 10,000 to 40,000
# steps about 60 KB at width 64 (64 to 70 KB for 1 to 131 model columns, 87 KB at width
# 256); 715 KB per padded step of 64 sequences at width 64.
_TRAIN_BYTES_PER_STEP = 40_000
_TRAIN_BYTES_PER_STEP_AND_UNIT = 140  # per unit of the GRU width
_TRAIN_BYTES_PER_SEQUENCE_STEP = 11_000
_SAMPLE_MEMORY_FACTOR = 8  # peak of sample over its drawn float32 steps
_FEATURES_PER_WIDTH_STEP = 16  # step features per 64 units of default GRU/MLP width
_MAX_DEFAULT_WIDTH = 256


def default_width(n_features: int) -> int:
    """Default GRU and MLP width for steps of ``n_features`` features: 64 per 16, 64 to 256."""
    steps = -(-max(1, n_features) // _FEATURES_PER_WIDTH_STEP)
    return min(_MAX_DEFAULT_WIDTH, 64 * steps)


# transform returns (n, T, embedding_dim) trajectories, which set_output cannot wrap.
class DVAESynthesizer(BaseSynthesizer, auto_wrap_output_keys=None):
    """Dynamical VAE: learns panels of sequences and samples, forecasts and scores them.

    Each entity is a sequence of steps with continuous and categorical features
    (missing values allowed), of its own length, with optional static context.
    Every step is encoded like a TVAE row (mode-specific normalisation, one-hot
    categories, missing indicators); an SRNN-style dynamical VAE (Girin et al.
    2021) models the steps causally: a forward GRU over the past gives ``h_t``, a
    latent ``z_t`` follows a learned prior ``p(z_t | z_{t-1}, h_t)``, and the
    decoder ``p(x_t | h_t, z_t)`` emits every span with a learned sigma for the
    continuous ones. A backward GRU feeds the inference network
    ``q(z_t | z_{t-1}, g_t)``. Padding never enters the loss.

    Input formats
    -------------
    - long DataFrame: one row per step, ``sequence_key`` names the entity column
      (required), ``sequence_index`` the time column (numbers or datetimes;
      optional, else the row order), ``context_columns`` static per-entity
      columns; every other column is a feature.
    - ndarray ``(n, T)`` or ``(n, T, d)``: trailing all-NaN steps are padding
      (variable lengths); other NaNs are missing values.
    - list of arrays ``(T_i, d)`` or ``(T_i,)`` of different lengths: read as
      the NaN-padded ndarray above.

    Results come back in the format ``fit`` saw.

    Parameters
    ----------
    embedding_dim : int, default=16
        Size of the latent state ``z_t``.
    hidden_dim : int or None, default=None
        Size of the forward and backward GRU states. None sets it from the data:
        64 per 16 step features (``n_features_in_``), from 64 to 256; so 64 up
        to 16 features, 128 up to 32. On the Energy windows (28 features) 128
        instead of 64 took the discriminative score from 0.32 to 0.23.
    compress_dims : tuple of int or None, default=None
        Hidden widths of the inference and prior networks (at least one); None:
        one layer as wide as the resolved ``hidden_dim``.
    decompress_dims : tuple of int or None, default=None
        Hidden widths of the decoder; None: one layer as wide as the resolved
        ``hidden_dim``.
    l2scale : float, default=0.0
        Weight decay of the Adam optimiser.
    batch_size : int, default=64
        Sequences per training batch, at most: data of fewer than four batches
        trains in four batches an epoch, of at least 16 sequences (see
        :func:`tssynth.training.training_batch_size`), since one Adam step an epoch
        leaves a small data set's dependencies unlearnt. Under ``epsilon`` the
        expected size of the Poisson-sampled batches, always.
    epochs : int, default=100
    loss_factor : float, default=1.0
        Weight of the reconstruction term against the KL term.
    learning_rate : float, default=2e-3
    kl_warmup_epochs : int, default=10
        The KL weight rises linearly to 1 over these epochs (0: no warm-up).
    scheduled_sampling : float, default=0.3
        Share of steps whose forward-GRU input is the model's own draw at the end
        of training (rises linearly from 0 over the first half of the epochs;
        0 keeps teacher forcing throughout).
    residual_noise : bool, default=True
        After training, draw the continuous columns' noise with the covariance
        (across one step's columns) of the training steps' reconstruction
        residuals, instead of independent noise of the learned sigma: a column
        that copies another stays a copy, and columns that move together (open,
        high, low, close) keep doing so. Used by ``sample`` and ``forecast``.
    marginal_calibration : bool, default=True
        Map each continuous column's sampled values through the training
        quantiles at their sampled level (1,001 levels, fitted on free-running
        draws after training), so its distribution over all steps is the
        training one while the order of values, and with it the dependence
        across steps and columns, stays the model's. With ``max_modes > 1`` a
        value is mapped within its mixture mode, each mode with at least 100
        values on both sides having its own map (the others share the column's
        pooled one). Used by ``sample`` (a forecast is conditional, so it is left
        as drawn). Neither option is fitted under differential privacy (both read
        the data without noise).
    max_modes : int, default=1
        Mixture modes per continuous feature. With the default 1 a feature is one
        Gaussian (plain standardisation) beside point masses for values that each
        hold at least 5 % of it (the zeros of a zero-inflated amount, a regular time
        gap), which come back exactly. Several modes make every step draw its mode
        anew, so a series that drifts through its range (a growth curve, a counter)
        jumps between modes; they can fit better a feature whose scale differs
        widely between entities (the economies of large and small states):
        docs/dvae.md, known limitations.
    sequence_key, sequence_index : column labels, optional
        Entity and time columns of long DataFrame input.
    context_columns : list of column labels, optional
        Static per-entity columns of long DataFrame input.
    random_state : int or None, default=None
    device : str or torch.device, default="auto"
    verbose : bool, default=False
    generator_filepath : str or Path, optional
        Where ``fit`` saves the trained generator; when the file exists, ``fit``
        loads it instead of training (after checking the columns and parameters
        match). A file trained on other records (another cross-validation fold) is
        loaded with a ``DataWarning``.
    epsilon : float or None, default=None
        Differential privacy budget (``pip install 'tssynth[privacy]'``); the
        private unit is one whole sequence. DP-SGD runs with opacus's ``DPGRU``
        in place of ``nn.GRU`` (slower: it steps through time in Python) and a
        per-sequence loss; 20 % of epsilon goes to the private data layer
        (per-step statistics weighted ``1 / length``, released lengths, starts
        and time step). Training contexts are not kept: ``sample`` then needs
        ``context=``. See ``docs/privacy.md``.
    delta : float or None, default=None
        DP delta; ``1 / n_sequences`` when None. Must be in (0, 1); only with
        ``epsilon``.
    max_grad_norm : float, default=1.0
        Per-sample gradient clipping norm of DP-SGD.
    early_stopping, validation_fraction, n_iter_no_change : bool, float, int
        Default False, 0.1, 10: stop training once the loss of the held-out share
        of records has not improved for that many epochs (see
        :meth:`tssynth.base.BaseSynthesizer.fit`).

    Attributes
    ----------
    panel_transformer_ : PanelTransformer
        The fitted data layer (steps, context, lengths, time).
    module_ : DVAE
    loss_history_ : DataFrame
    epsilon_, delta_ : float or None
        Privacy budget actually spent (None when trained without ``epsilon``).
    n_features_in_ : int
        Feature columns (channels) per step.

    Examples
    --------
    >>> from tssynth import DVAESynthesizer
    >>> syn = DVAESynthesizer(sequence_key="unit", sequence_index="t", epochs=50)
    >>> syn.fit(long_frame)                                    # doctest: +SKIP
    >>> syn.sample(10)                                         # doctest: +SKIP
    >>> syn.forecast(prefix_frame, steps=30, n_samples=20)     # doctest: +SKIP
    """

    _data_attribute_names = ("panel_transformer_", "n_features_in_")
    _widths_from_data = True

    def __init__(
        self,
        embedding_dim: int = 16,
        hidden_dim: int | None = None,
        compress_dims: tuple[int, ...] | None = None,
        decompress_dims: tuple[int, ...] | None = None,
        l2scale: float = 0.0,
        batch_size: int = 64,
        epochs: int = 100,
        loss_factor: float = 1.0,
        learning_rate: float = 2e-3,
        kl_warmup_epochs: int = 10,
        scheduled_sampling: float = 0.3,
        residual_noise: bool = True,
        marginal_calibration: bool = True,
        max_modes: int = 1,
        sequence_key: Hashable = None,
        sequence_index: Hashable = None,
        context_columns: Iterable[Hashable] | None = None,
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
        self.hidden_dim = hidden_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.l2scale = l2scale
        self.batch_size = batch_size
        self.epochs = epochs
        self.loss_factor = loss_factor
        self.learning_rate = learning_rate
        self.kl_warmup_epochs = kl_warmup_epochs
        self.scheduled_sampling = scheduled_sampling
        self.residual_noise = residual_noise
        self.marginal_calibration = marginal_calibration
        self.max_modes = max_modes
        self.sequence_key = sequence_key
        self.sequence_index = sequence_index
        self.context_columns = context_columns
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
        if self.hidden_dim is not None:
            check_int("hidden_dim", self.hidden_dim)
        if self.compress_dims is not None and len(self.compress_dims) == 0:
            # the inference and prior networks read z_{t-1} and the GRU state through one layer
            raise InvalidParameterError(
                "compress_dims must hold at least one width for DVAESynthesizer, such as "
                "(64,); None sets one layer from the data."
            )
        check_int("kl_warmup_epochs", self.kl_warmup_epochs, minimum=0)
        check_int("max_modes", self.max_modes)
        for name in ("residual_noise", "marginal_calibration"):
            check_bool(name, getattr(self, name))
        share = check_float("scheduled_sampling", self.scheduled_sampling, 0.0)
        if share > 1.0:
            raise InvalidParameterError(
                f"scheduled_sampling must be a share in [0, 1], got {self.scheduled_sampling}."
            )
        if self.sequence_key is not None and self.sequence_key == self.sequence_index:
            raise InvalidParameterError(
                f"sequence_key and sequence_index must be different columns, both are "
                f"{self.sequence_key!r}."
            )
        # Ordered and readable twice: a set's order changes between processes (and with
        # it the model), and an iterator would be used up here.
        ordered = list | tuple | np.ndarray | pd.Index
        if self.context_columns is not None and not isinstance(self.context_columns, ordered):
            raise InvalidParameterError(
                "context_columns must be a list (or tuple) of column labels, in the order to "
                f"model them, got {self.context_columns!r}; a set has no fixed order and an "
                "iterator is read only once."
            )
        if self.context_columns is not None:
            listed = list(self.context_columns)
            twice = [name for i, name in enumerate(listed) if name in listed[:i]]
            if twice:
                raise InvalidParameterError(
                    f"context_columns lists {twice[0]!r} more than once; list each column once."
                )

    def _training_config(self) -> TrainingConfig:
        return dataclasses.replace(
            super()._training_config(), kl_warmup_epochs=self.kl_warmup_epochs
        )

    def _read(
        self,
        X: Any,
        what: str = "X",
        min_length: int = 2,
        fitted: dict[str, Any] | None = None,
    ) -> LongPanel:
        """Read a panel; with the ``fitted`` input format (after fit), the fitted way.

        After fit the key, index and context columns are the fitted ones (not what
        ``set_params`` may have changed since), and times are read in the fitted
        unit, zone and clock.
        """
        if fitted is not None and fitted["kind"] == "array" and isinstance(X, pd.DataFrame):
            raise InvalidDataError(
                f"This synthesizer was fitted on a numeric array; pass {what} as an array of "
                "shape (n_sequences, n_steps, n_channels) too."
            )
        if fitted is None or fitted["kind"] != "frame":
            return read_panel(
                X,
                self.sequence_key,
                self.sequence_index,
                self.context_columns,
                min_length=min_length,
                what=what,
                # Under differential privacy nothing about the times is learnt outside
                # the private mechanisms: not their calendar, local clock or resolution.
                index_clock=IndexClock() if self.epsilon is not None else None,
            )
        spec, clock = fitted.get("index_spec"), fitted.get("index_clock")
        return read_panel(
            X,
            fitted["sequence_key"],
            fitted["sequence_index"],
            fitted["context_columns"],
            min_length=min_length,
            what=what,
            index_spec=None if spec is None else ColumnSpec.from_dict(spec),
            index_clock=IndexClock.from_dict(clock),
        )

    def _prepare_input(
        self,
        X: Any,
        discrete_columns: Iterable[Hashable] | None = None,
        metadata: Mapping[str, Iterable[Hashable]] | None = None,
    ) -> PreparedInput:
        panel = self._read(X)
        static = static_feature_columns(panel)
        if static:
            warnings.warn(
                f"Feature columns {static} hold one value per sequence in X, so they look like "
                "static attributes; as per-step features they may change within a generated "
                f"sequence. Pass context_columns={static} (on the command line "
                f"--context-columns {','.join(map(str, static))}) to draw them once per sequence.",
                DataWarning,
                stacklevel=caller_stacklevel(),
            )
        signature = [[repr(c), "feature", str(d)] for c, d in panel.features.dtypes.items()]
        if panel.context is not None:
            signature += [[repr(c), "context", str(d)] for c, d in panel.context.dtypes.items()]
        fmt = panel.input_format
        signature += [[fmt["kind"], repr(fmt.get("sequence_key")), repr(fmt.get("sequence_index"))]]
        if fmt.get("index_spec") is not None:
            signature += [[INDEX_ENTRY, "index", fmt["index_spec"]["dtype"]]]
        return PreparedInput(
            panel,
            signature,
            {"discrete_columns": discrete_columns, "metadata": metadata},
            len(panel.lengths),
        )

    def _fit_data(
        self, prepared: PreparedInput, seed: int, budget: DataBudget | None
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        panel: LongPanel = prepared.data
        self._check_training_size(panel.lengths, panel.features.shape[1])
        transformer = PanelTransformer(self.max_modes, random_state=seed).fit(
            panel, prepared.extras["discrete_columns"], prepared.extras["metadata"], budget
        )
        if transformer.steps.output_dim == 0 and budget is not None:
            raise InvalidDataError(
                f"Under differential privacy no value of the feature columns "
                f"({list(panel.features.columns)}) was frequent enough to release at "
                f"epsilon={self.epsilon} (see the PrivacyWarnings), so there is nothing for a "
                "sequence model to learn; give more sequences or a larger epsilon, or declare "
                "the categories (metadata={'categories': {column: [...]}})."
            )
        if transformer.steps.output_dim == 0:
            raise InvalidDataError(
                f"Every feature column of X ({list(panel.features.columns)}) is constant or "
                "entirely missing, so there is nothing for a sequence model to learn; add a "
                "varying feature or drop the panel."
            )
        steps, context = transformer.encode(panel, np.random.default_rng(seed))
        lengths = torch.from_numpy(panel.lengths)
        # Stored without padding: one long sequence does not pad every other one.
        arrays = [Ragged(torch.from_numpy(steps), lengths), Ragged.mask(lengths)]
        arrays += [] if context is None else [context]
        attributes = {
            "panel_transformer_": transformer,
            "n_features_in_": int(panel.features.shape[1]),
        }
        return attributes, arrays

    def _missing_indicator_dims(self, attributes: dict[str, Any]) -> list[int]:
        return attributes["panel_transformer_"].steps.missing_indicator_dims

    def _category_dims(self, attributes: dict[str, Any]) -> list[int]:
        return attributes["panel_transformer_"].steps.category_dims

    def _build_module(self, attributes: dict[str, Any]) -> DVAE:
        transformer: PanelTransformer = attributes["panel_transformer_"]
        module = DVAE(
            transformer.steps.spans,
            transformer.context_dim,
            self.embedding_dim,
            *self._widths(attributes["n_features_in_"]),
            self.loss_factor,
            self.scheduled_sampling,
            private=self.epsilon is not None,
            mode_columns=transformer.steps.mode_columns,
            point_masses=transformer.steps.point_masses,
        )
        module.mean_length = (
            float(np.mean(transformer.lengths)) if len(transformer.lengths) else None
        )
        return module

    def _widths(self, n_features: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        """``hidden_dim``, ``compress_dims`` and ``decompress_dims``, None set from the data."""
        hidden = default_width(n_features) if self.hidden_dim is None else self.hidden_dim
        compress = (hidden,) if self.compress_dims is None else tuple(self.compress_dims)
        decompress = (hidden,) if self.decompress_dims is None else tuple(self.decompress_dims)
        return hidden, compress, decompress

    def _fit_sampling_model(
        self,
        module: torch.nn.Module,
        arrays: list[Any],
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        x, mask = arrays[0].to(device), arrays[1].to(device)
        context = torch.as_tensor(arrays[2]).to(device) if len(arrays) > 2 else None
        if self.residual_noise:
            module.fit_residual_noise(x, mask, context, generator)
        if self.marginal_calibration:
            module.fit_calibration(x, mask, context, generator)

    def _check_training_size(self, lengths: np.ndarray, n_features: int) -> None:
        """A named error, before any work, for sequences too long to train in memory."""
        longest = int(lengths.max(initial=0))
        width = self._widths(n_features)[0]
        per_step = _TRAIN_BYTES_PER_STEP + _TRAIN_BYTES_PER_STEP_AND_UNIT * width
        pieces = piece_steps(lengths, training_batch_size(len(lengths), self.batch_size))
        needed = per_step * longest + _TRAIN_BYTES_PER_SEQUENCE_STEP * pieces
        if fits_in_memory(needed):
            return
        room = int(memory_budget() / (per_step + _TRAIN_BYTES_PER_SEQUENCE_STEP))
        raise InvalidDataError(
            f"Training on these sequences would take about {shown_bytes(needed)}, more than "
            f"half this machine's memory: a sequence is trained whole, and the longest has "
            f"{longest:,} steps. Cut long sequences into pieces of at most about "
            f"{max(room, 2):,} steps, each with its own sequence_key, or lower batch_size "
            f"(now {self.batch_size}); for one long series, DenseVAESynthesizer(window=...) "
            "learns from its windows."
        )

    def _sequence_lengths(self, arrays: list[Any]) -> np.ndarray:
        return arrays[1].lengths.numpy()

    def _data_state(self, attributes: dict[str, Any]) -> dict[str, Any]:
        return {
            "panel_transformer": attributes["panel_transformer_"].to_state(),
            "n_features_in": attributes["n_features_in_"],
        }

    def _data_attributes(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "panel_transformer_": PanelTransformer.from_state(state["panel_transformer"]),
            "n_features_in_": int(state["n_features_in"]),
        }

    def fit(
        self,
        X: Any,
        y: Any = None,
        discrete_columns: Iterable[Hashable] | None = None,
        metadata: Mapping[str, Iterable[Hashable]] | None = None,
    ) -> DVAESynthesizer:
        """Learn the distribution of a panel of sequences.

        Parameters
        ----------
        X : long DataFrame, ndarray of shape (n, T) or (n, T, d), or list of arrays
            See the class docstring. A list of ``(T_i, d)`` (or ``(T_i,)``)
            sequences of different lengths is read as the NaN-padded
            ``(n, max T_i, d)`` array, and results come back in that array form.
            Every sequence needs at least 2 steps.
        y : None
            Ignored.
        discrete_columns : list of column labels, optional
            Feature or context columns to treat as categorical whatever their dtype.
        metadata : dict, optional
            ``{"continuous": [...], "categorical": [...]}`` overrides.

        Returns
        -------
        self

        Raises
        ------
        InvalidDataError
            Missing key/index columns, duplicate (key, time) pairs, sequences of
            one step, context that changes within a sequence.
        """
        return super().fit(X, y, discrete_columns=discrete_columns, metadata=metadata)

    # ------------------------------------------------------------ helpers

    def _tensors(
        self, panel: LongPanel, encoded: tuple[np.ndarray, np.ndarray | None] | None = None
    ) -> tuple[Ragged, Ragged, torch.Tensor | None]:
        """The panel's steps and step mask (unpadded) and its context, on the fitted device
        (``encoded``: the panel's :meth:`PanelTransformer.encode` output, when at hand)."""
        steps, context = encoded or self.panel_transformer_.encode(panel)
        device = self.device_
        lengths = torch.from_numpy(panel.lengths)
        ctx = None if context is None else torch.from_numpy(context).to(device)
        x = Ragged(torch.from_numpy(steps), lengths).to(device)
        return x, Ragged.mask(lengths, device), ctx

    def _panel(self, X: Any, what: str, min_length: int = 1) -> LongPanel:
        self._check_fitted()
        transformer = self.panel_transformer_
        panel = self._read(X, what, min_length, transformer.input_format)
        transformer.check_columns(panel, what)
        transformer.warn_unseen_categories(panel, what)
        return panel

    # ------------------------------------------------------------ public API

    def sample(
        self,
        n_sequences: int,
        sequence_length: int | None = None,
        context: Any = None,
    ) -> pd.DataFrame | np.ndarray:
        """Generate new sequences.

        Parameters
        ----------
        n_sequences : int
            Number of sequences (any non-negative number).
        sequence_length : int, optional
            Steps per sequence; by default each length is drawn from the
            training lengths.
        context : DataFrame, optional
            One row per sequence with the context columns; by default contexts
            are drawn from the training entities. The model conditions on its
            encoding (a category unseen in fit, or not released under
            differential privacy, encodes as none of the known ones); the result
            holds the given values themselves.

        Returns
        -------
        Long DataFrame (fresh keys 0..n-1, ``sequence_index`` continuing from a
        training start with the learned step, or with drawn gaps where the
        training times were irregular) or, for array input, an ndarray
        ``(n, T, d)`` with NaN after each sequence's end; T is
        ``sequence_length`` or, when lengths are drawn, the longest training
        length (the same in every call, so that samples can be stacked).
        """
        n = self._check_n("n_sequences", n_sequences)
        transformer = self.panel_transformer_
        if sequence_length is not None:
            sequence_length = check_int("sequence_length", sequence_length)
        longest = sequence_length or int(transformer.lengths.max(initial=0))
        self._check_sample_size(n, longest, sequence_length is None)  # before drawing n lengths
        if sequence_length is None and len(transformer.lengths) == 0:
            raise InvalidParameterError(
                "No usable sequence length was released under differential privacy (too "
                "few sequences for the budget); pass sequence_length=... to sample."
            )
        context_rows = self._context_rows(n, context)
        lengths, starts, entities = self._entity_draws(n, context_rows)
        drawn_context = None
        if entities is not None and transformer.context_rows is not None:
            drawn_context = np.asarray(transformer.context_rows[entities], dtype=np.float32)
        if context_rows is None:
            context_rows = drawn_context
            if entities is not None:  # the drawn entities' exact values, not their encodings
                context = transformer.training_context(entities)
        elif drawn_context is not None:  # given contexts: the drawn entities' absence flags
            flags = drawn_context[:, transformer.user_context_dim :]
            context_rows = transformer.with_flags(context_rows, flags, n)
        if sequence_length is not None:
            lengths = np.full(n, sequence_length)
        steps = int(lengths.max(initial=0))
        # Arrays keep one width from call to call (the longest training sequence).
        width = steps if sequence_length is not None else int(transformer.lengths.max(initial=0))
        layout, values = self._flat_output(lengths, transformer.steps.output_dim)
        generator = self._generator()
        for rows, length, ctx in self._chunks(lengths, context_rows):
            state = self.module_.initial_state(len(rows), self.device_)
            drawn = self.module_.generate(length, state, ctx, generator, clip=False)
            layout.scatter(torch.from_numpy(rows), self.module_.calibrate(drawn), values)
        return transformer.decode(
            values.numpy(),
            lengths,
            context_rows,
            starts,
            context=context,
            width=max(steps, width),
            drawn=True,
        )

    @staticmethod
    def _flat_output(lengths: np.ndarray, width: int) -> tuple[Ragged, torch.Tensor]:
        """The layout of sequences of ``lengths`` and an empty CPU tensor for their
        ``width``-wide steps, back to back."""
        layout = Ragged.mask(torch.from_numpy(np.asarray(lengths, dtype=np.int64)))
        return layout, torch.empty(len(layout.steps), width)

    def _chunks(
        self, lengths: np.ndarray, context_rows: np.ndarray | None
    ) -> Iterator[tuple[np.ndarray, int, torch.Tensor | None]]:
        """Sequences in chunks of similar lengths: their rows, the chunk's longest length
        and their encoded contexts on the fitted device (None without context)."""
        for rows, length in length_chunks(torch.from_numpy(lengths), _CHUNK):
            rows = rows.numpy()
            ctx = None
            if context_rows is not None:
                ctx = torch.from_numpy(context_rows[rows]).to(self.device_)
            yield rows, length, ctx

    def _sample_bytes(self, width: int, drawn_lengths: bool) -> float:
        """Peak memory of drawing one sequence of up to ``width`` steps (see
        :meth:`_check_sample_size`)."""
        transformer = self.panel_transformer_
        per_sequence = float(width)
        drawn = drawn_lengths and len(transformer.lengths)  # none released: sequence_length
        if drawn and transformer.input_format["kind"] != "array" and width:
            per_sequence = min(per_sequence, float(transformer.lengths.mean()))
        # Drawn steps are stacked, calibrated and decoded in float64: 7.8 times their
        # float32 model array at peak (benchmarks/sample_memory.py: 2,000 x 1,000 steps).
        return _SAMPLE_MEMORY_FACTOR * 4.0 * per_sequence * transformer.steps.output_dim

    def _sample_bytes_per_record(self) -> float:
        return self._sample_bytes(int(self.panel_transformer_.lengths.max(initial=1)), True)

    def _check_sample_size(self, n: int, width: int, drawn_lengths: bool) -> None:
        """A named error, not a MemoryError, for samples this machine cannot hold.

        ``width``: the longest sequence. Drawn lengths are counted at the training
        mean, except for array results, which are padded to the longest.
        """
        if fits_in_memory(n * self._sample_bytes(width, drawn_lengths)):
            return
        why = ""
        if drawn_lengths and self.privacy_["epsilon"] is not None:
            why = (
                " The lengths were released under differential privacy, and with few "
                "sequences for the budget they can be noise (see the PrivacyWarning of fit)."
            )
        raise InvalidParameterError(
            f"Drawing {n:,} sequences of up to {width:,} steps does not fit in this "
            f"machine's memory.{why} Ask for fewer steps (sequence_length=..., steps=...) or "
            "fewer sequences per call (the tssynth sample command streams them in chunks)."
        )

    def _entity_draws(
        self, n: int, context_rows: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Lengths, starts and training entities of ``n`` new sequences, drawn together.

        Without DP each new sequence takes its length, start and context from one
        training sequence (the entity returned), so that a context keeps its lengths
        and start times; with given contexts, from a training sequence whose context
        is nearest (a random one among ties). Under DP the releases are separate, so
        they are drawn independently (entities: None, the caller's ``context=`` is
        required).
        """
        transformer, rng = self.panel_transformer_, self._sample_rng
        if self.privacy_["epsilon"] is not None:
            lengths = rng.choice(transformer.lengths, size=n) if len(transformer.lengths) else None
            starts = None if transformer.starts is None else rng.choice(transformer.starts, size=n)
            return lengths, starts, None
        if context_rows is None or transformer.context_rows is None:
            entities = rng.integers(len(transformer.lengths), size=n)
        else:
            known = transformer.context_rows[:, : transformer.user_context_dim]
            entities = nearest_rows(context_rows, known, rng)
        lengths = transformer.lengths[entities]
        starts = None if transformer.starts is None else transformer.starts[entities]
        return lengths, starts, entities

    def _context_rows(self, n: int, context: Any) -> np.ndarray | None:
        """The encoded ``context`` given by the user (None when not given), checked."""
        transformer = self.panel_transformer_
        if transformer.context is None:
            if context is not None:
                raise InvalidParameterError(
                    "context= was given, but the synthesizer was fitted without context_columns."
                )
            return None
        if context is None:
            if transformer.context_rows is None:
                raise InvalidParameterError(
                    "This synthesizer was trained with differential privacy, which keeps no "
                    "training contexts; pass context= (a DataFrame with one row per sequence and "
                    f"the columns {transformer.context.column_names}; on the command line "
                    "tssynth sample --context TABLE)."
                )
            return None
        if not isinstance(context, pd.DataFrame) or len(context) != n:
            raise InvalidDataError(
                f"context must be a DataFrame with one row per sequence ({n} rows) and the "
                f"columns {transformer.context.column_names}."
            )
        return transformer.context.transform(context)

    def forecast(self, prefix: Any, steps: int, n_samples: int = 1) -> pd.DataFrame | np.ndarray:
        """Sample continuations of every prefix sequence.

        Parameters
        ----------
        prefix : long DataFrame or ndarray
            The observed beginning of each entity, in the fitted format (with the
            fitted columns, context included).
        steps : int
            Steps to continue (>= 1).
        n_samples : int, default=1
            Sample paths per entity.

        Returns
        -------
        ndarray of shape (m, n_samples, steps, d) for array input (``(m,
        n_samples, steps)`` for 2-D input); for a DataFrame, a long DataFrame with
        the entity key, a ``sample`` column (0..n_samples-1; ``_sample_`` when a
        fitted column is called ``sample``), the continued ``sequence_index`` and
        the features. Context columns hold the prefix's own values, as given.
        """
        steps = check_int("steps", steps)
        n_samples = check_int("n_samples", n_samples)
        panel = self._panel(prefix, "prefix")
        self._check_sample_size(len(panel.lengths) * n_samples, steps, False)
        x, mask, context = self._tensors(panel)
        m = len(x)
        paths = torch.arange(m, device=self.device_).repeat_interleave(n_samples)
        x, mask = x[paths], mask[paths]
        if context is not None:
            context = context[paths]
        generator = self._generator()
        context = self._continued_absence(context, panel.lengths[paths.cpu().numpy()], generator)
        lengths = np.full(len(x), steps)
        layout, values = self._flat_output(lengths, x.steps.shape[1])
        for rows, _ in length_chunks(mask.lengths, _CHUNK):
            ctx = None if context is None else context[rows]
            prefix = (x.index_select(0, rows), mask.index_select(0, rows))
            state = self.module_.prefix_state(*prefix, ctx, generator)
            # As drawn, not clipped to [-1, 1]: the decode reflects a value past its
            # mode's reach back inside (clipped, forecasts piled up on the training max).
            drawn = self.module_.generate(steps, state, ctx, generator, clip=False)
            layout.scatter(rows, drawn, values)
        transformer = self.panel_transformer_
        given = None
        if panel.context is not None:  # the prefix's own context, as given
            given = panel.context.iloc[np.repeat(np.arange(m), n_samples)]
        starts = transformer.last_times(panel)
        if starts is not None:
            starts = np.repeat(starts, n_samples)
        keys = panel.keys.repeat(n_samples)
        samples = np.tile(np.arange(n_samples), m)
        # The context rows carry the prefixes' absence flags: a column a prefix lacks
        # at every step stays absent in its paths, as in sample().
        result = transformer.decode(
            values.numpy(),
            lengths,
            None if context is None else context.cpu().numpy(),
            starts,
            keys,
            samples,
            context=given,
            continuation=True,
            origin=panel.time_origin,
            drawn=True,
        )
        if isinstance(result, np.ndarray):
            return result.reshape(m, n_samples, *result.shape[1:])
        return result

    def _continued_absence(
        self, context: torch.Tensor | None, lengths: np.ndarray, generator: torch.Generator
    ) -> torch.Tensor | None:
        """A forecast path whose prefix lacks an absent column at every step lacks it
        throughout with the chance the training entities give (a short prefix may just
        not have reached its first value); each path draws its own."""
        chance = self.panel_transformer_.lacking_chance(lengths)
        if context is None or chance is None:
            return context
        k = chance.shape[1]
        draws = torch.rand(chance.shape, generator=generator, device=context.device)
        keep = draws < torch.from_numpy(chance).to(context)
        context = context.clone()
        context[:, -k:] = context[:, -k:] * keep
        return context

    def reconstruct(self, X: Any) -> pd.DataFrame | np.ndarray:
        """Most likely reconstruction of every sequence through its posterior-mean latents.

        Parameters
        ----------
        X : long DataFrame or ndarray, in the fitted format

        Returns
        -------
        The sequences, in the fitted format (entities in sorted key order; an array
        with as many steps as ``X``); context columns hold the given values. A long
        frame's rows keep the index labels of the rows of ``X`` they reconstruct, so
        ``X[c] - reconstruct(X)[c]`` compares each row with its reconstruction.
        """
        panel = self._panel(X, "X")
        _, recon = self._posterior_means(panel)
        result = self.panel_transformer_.decode(
            recon,
            panel.lengths,
            None,
            keys=panel.keys,
            context=panel.context,
            index_values=panel.index_values,
            width=panel.input_format.get("steps"),
        )
        if isinstance(result, pd.DataFrame) and panel.row_labels is not None:
            result.index = panel.row_labels
        return result

    def transform(self, X: Any) -> np.ndarray:
        """Latent trajectories of posterior means.

        Parameters
        ----------
        X : long DataFrame or ndarray, in the fitted format

        Returns
        -------
        ndarray of shape (n_sequences, T, embedding_dim), float32; NaN after each
        sequence's end. Entities in sorted key order.
        """
        panel = self._panel(X, "X")
        n, longest = len(panel.lengths), int(panel.lengths.max())
        needed = 4.0 * n * longest * self.module_.embedding_dim
        if not fits_in_memory(needed):
            raise InvalidDataError(
                f"transform pads the latent trajectories of X's {n:,} sequences to its "
                f"longest, {longest:,} steps: about {shown_bytes(needed)}, more than half "
                "this machine's memory. Transform the long sequences apart from the short "
                "ones, or in fewer sequences per call."
            )
        z, _ = self._posterior_means(panel)
        return pad_sequences(z, panel.codes, panel.positions, panel.lengths)

    def inverse_transform(self, X: Any, context: Any = None) -> pd.DataFrame | np.ndarray:
        """Decode latent trajectories (the output of :meth:`transform`) into sequences.

        Each step is the decoder's most likely value given its latent and the steps
        decoded before it (unlike :meth:`reconstruct`, which reads the real previous
        steps), so ``inverse_transform(transform(X))`` approximates ``X``.

        Parameters
        ----------
        X : array-like of shape (n, T, embedding_dim)
            Latent trajectories; NaN after each sequence's end (steps after the first
            all-NaN step are padding).
        context : DataFrame, optional
            One row per sequence with the context columns; required when the model
            was fitted with ``context_columns``.

        Returns
        -------
        New sequences in the fitted format (fresh keys 0..n-1; times start at the
        training start nearest the mean start and follow the learned step, or the
        decoded gaps).
        """
        self._check_fitted()
        z, lengths = self._latent_trajectories(X)
        transformer = self.panel_transformer_
        if transformer.context is not None and context is None:
            raise InvalidParameterError(
                "This synthesizer was fitted with context_columns; pass context= (a DataFrame "
                f"with one row per sequence and the columns {transformer.context.column_names})."
            )
        # no entity is known to lack a column
        context_rows = transformer.with_flags(self._context_rows(len(z), context), None, len(z))
        layout, values = self._flat_output(lengths, transformer.steps.output_dim)
        for rows, length, ctx in self._chunks(lengths, context_rows):
            latents = torch.from_numpy(z[rows, :length]).to(self.device_)
            decoded = self.module_.decode_latents(latents, ctx)
            layout.scatter(torch.from_numpy(rows), decoded, values)
        return transformer.decode(
            values.numpy(), lengths, context_rows, context=context, width=z.shape[1]
        )

    def _latent_trajectories(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """``X`` of :meth:`inverse_transform` as float32 ``(n, T, z)`` (padding zeroed) and
        the lengths, checked."""
        width = self._fitted("embedding_dim")
        expected = f"latent trajectories of shape (n, T, {width}), e.g. the output of transform"
        try:
            z = np.array(X, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"inverse_transform expects {expected}: {exc}") from exc
        if z.ndim != 3 or z.shape[2] != width:
            raise InvalidDataError(f"inverse_transform expects {expected}; got shape {z.shape}.")
        finite = np.isfinite(z).all(axis=2)
        lengths = finite.sum(axis=1)
        prefix = np.arange(z.shape[1])[None, :] < lengths[:, None]
        bad = np.flatnonzero((finite != prefix).any(axis=1) | (lengths == 0))
        if bad.size:
            raise InvalidDataError(
                f"inverse_transform got {bad.size} trajectories (first: row {bad[0]}) that are "
                "empty or have NaN or infinite values before their last step; only whole steps "
                "after a sequence's end may be NaN."
            )
        z[~prefix] = 0.0
        return z, lengths

    def _posterior_means(self, panel: LongPanel) -> tuple[np.ndarray, np.ndarray]:
        """Posterior-mean latents and most likely reconstructions of every step of a
        panel, sequence after sequence (``(total steps, z)`` and ``(total steps, D)``),
        run in chunks of sequences."""
        x, mask, context = self._tensors(panel)
        latents = torch.empty(len(x.steps), self.module_.embedding_dim)
        reconstructions = torch.empty(len(x.steps), x.steps.shape[1])
        for rows, _ in length_chunks(mask.lengths, _CHUNK):
            ctx = None if context is None else context[rows]
            chunk = (x.index_select(0, rows), mask.index_select(0, rows))
            z, recon = self.module_.posterior_means(*chunk, ctx)
            x.scatter(rows, z, latents)
            x.scatter(rows, recon, reconstructions)
        return latents.numpy(), reconstructions.numpy()

    def score_samples(self, X: Any) -> np.ndarray:
        """Evidence lower bound of every sequence (lower = more anomalous).

        The ELBO sums over the sequence's steps (so longer sequences score lower;
        divide by the lengths for a per-step score) and is averaged over 8
        posterior draws whose noise comes from a fixed seed and is shared by every
        sequence, so a sequence gets the same score alone, in any batch and in
        any order.

        Parameters
        ----------
        X : long DataFrame or ndarray, in the fitted format

        Returns
        -------
        ndarray of shape (n_sequences,), float64, entities in sorted key order
        """
        panel = self._panel(X, "X")
        # Unclipped: a reading 1e8 out scored as one 4 sd out (training's encoding limit)
        steps, context_rows = self.panel_transformer_.encode(panel, clip=False)
        x, mask, context = self._tensors(panel, (steps, context_rows))
        stand_ins = self.panel_transformer_.steps.stand_ins(steps)
        if stand_ins is not None:
            stand_ins = Ragged(torch.from_numpy(stand_ins), mask.lengths.cpu()).to(self.device_)
        generator = self._scoring_generator()
        # Drawn step by step, so that step t's noise is the same whatever the
        # longest sequence given (one randn of (draws, T, z) would change with T).
        shape = (_ELBO_DRAWS, self.module_.embedding_dim)
        noise = torch.stack(
            [
                torch.randn(shape, generator=generator, device=self.device_)
                for _ in range(x.longest())
            ],
            dim=1,
        )
        scores = np.zeros(len(x))
        for rows, _ in length_chunks(mask.lengths, _CHUNK):
            ctx = None if context is None else context[rows]
            chunk = (x.index_select(0, rows), mask.index_select(0, rows))
            stand_in = None if stand_ins is None else stand_ins.index_select(0, rows)
            elbo = self.module_.elbo(*chunk, ctx, noise, stand_in)
            scores[rows.cpu().numpy()] = elbo.cpu().numpy()
        return scores
