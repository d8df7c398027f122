"""TVAESynthesizer: a tabular variational autoencoder."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from tssynth._validation import check_bool
from tssynth.base import BaseSynthesizer, PreparedInput
from tssynth.data import DataTransformer, infer_schema
from tssynth.data.frame import as_frame, from_frame
from tssynth.data.memory import fits_in_memory, shown_bytes
from tssynth.data.private import DataBudget
from tssynth.data.schema import (
    CATEGORICAL,
    CONTINUOUS,
    IDENTIFIERS,
    check_declarations,
    check_frame,
    dtype_name,
    numpy_dtype,
)
from tssynth.data.transformer import private_units
from tssynth.exceptions import InvalidDataError, InvalidParameterError
from tssynth.nn.tvae import TVAE

# Rows handled at once, bounded by model-array values so that a wide table (a column
# of 20,000 categories) gets fewer rows per chunk: sampling keeps each chunk in cache,
# transform and inverse_transform keep memory bounded.
_SAMPLE_CHUNK = 2_048
_SAMPLE_CHUNK_VALUES = 2**19
_DECODE_BLOCK_VALUES = 2**22  # model-array values drawn and decoded at once by sample
_ENCODE_CHUNK_VALUES = 2**23
_ISSUING = threading.Lock()  # guards the count of identifiers issued


class TVAESynthesizer(BaseSynthesizer):
    """Tabular VAE: learns a table of continuous and categorical columns and samples new rows.

    Continuous columns are modelled with mode-specific normalisation (a Bayesian
    Gaussian mixture per column), categorical columns as one-hot codes; an MLP
    encoder maps rows to a Gaussian posterior and an MLP decoder with a learned
    sigma maps latents back. Synthetic rows come back with the input's columns,
    dtypes, category sets, integer rounding, value bounds and missing-value rates.

    Parameters
    ----------
    embedding_dim : int, default=128
        Size of the latent space.
    compress_dims : tuple of int, default=(128, 128)
        Hidden layer widths of the encoder.
    decompress_dims : tuple of int, default=(128, 128)
        Hidden layer widths of the decoder.
    l2scale : float, default=1e-5
        Weight decay of the Adam optimiser.
    batch_size : int, default=500
        Rows per training batch, at most: data of fewer than four batches
        trains in four batches an epoch, of at least 16 rows (see
        :func:`tssynth.training.training_batch_size`), since one Adam step an epoch
        leaves a small data set's dependencies unlearnt. Under ``epsilon`` the
        expected size of the Poisson-sampled batches, always.
    epochs : int, default=300
    loss_factor : float, default=2.0
        Weight of the reconstruction term against the KL term.
    learning_rate : float, default=1e-3
    latent_components : int, default=10
        Gaussian components of the latent sampling distribution, fitted after
        training to the posterior means of (at most 5,000) training rows (ex-post
        density estimation, Ghosh et al. 2020). On Adult at 30 epochs ten
        components raised the fidelity score from 0.916 to 0.952 (pair trends
        0.859 to 0.927) with the same TSTR ROC AUC. 1 gives one Gaussian with the
        aggregated posterior's mean and covariance; under differential privacy it
        is always one (a private release).
    derive_dependencies : bool, default=True
        Derive a column that one categorical column determines exactly in the
        training data (a code and its label, a state and its region, Adult's
        ``education-num`` from ``education``) from that column when sampling,
        instead of drawing it on its own given the latent: samples keep every
        pair (on Adult at 30 epochs the two disagreed in 28 % of rows without
        this). A determinant needs at least 10 rows per value, on average and
        for its median value, and at most 1,000 values. The pairs themselves
        are kept in the generator file and released in every sample: set False
        when one (a customer number that determines a birth date) must not be.
        Never under ``epsilon``. Rules of single values are kept too: when
        every one of enough rows with ``diagnosis == "childbirth"`` has
        ``sex == "F"`` (``share ** rows < 1e-6``, 10 rows at the least), a sample
        breaking it gets the forced value and as many rows under no rule give
        that value up, so the dependant's frequencies stay as drawn (rules go
        one way: a forced column determines no other rule; a row whose values
        force two values on one column, never seen in training, first gets
        another value of the later column, one that forces nothing).
    random_state : int or None, default=None
        Seed: the same value gives the same fitted model and the same sequence of
        samples on the CPU.
    device : str or torch.device, default="auto"
        "auto" uses CUDA when available, else the CPU.
    verbose : bool, default=False
        Show a progress bar while training.
    generator_filepath : str or Path, optional
        Where ``fit`` saves the trained generator; when the file exists, ``fit``
        loads it instead of training (after checking the columns match). A file
        trained on other records (another cross-validation fold) is loaded with a
        ``DataWarning``.
    epsilon : float or None, default=None
        Differential privacy budget (needs ``pip install 'tssynth[privacy]'``). When
        set, training is DP-SGD with noise calibrated so that ``fit`` spends at
        most this epsilon in all: 20 % goes to the data layer's private statistics
        (unless a public schema covers every column, see ``fit``'s ``metadata``),
        5 % to the clipping radii of the latent release, the rest to the gradient
        steps and the latent release (RDP accountant). See ``docs/privacy.md``.
    delta : float or None, default=None
        DP delta; ``1 / n_rows`` when None. Must be in (0, 1); only with ``epsilon``.
    max_grad_norm : float, default=1.0
        Per-sample gradient clipping norm of DP-SGD.
    early_stopping, validation_fraction, n_iter_no_change : bool, float, int
        Default False, 0.1, 10: stop training once the loss of the held-out share
        of records has not improved for that many epochs (see
        :meth:`tssynth.base.BaseSynthesizer.fit`).

    Attributes
    ----------
    transformer_ : DataTransformer
        The fitted data layer.
    module_ : torch.nn.Module
        The trained VAE.
    loss_history_ : DataFrame
        Per epoch: ``epoch``, ``loss``, ``reconstruction``, ``kl`` (and ``val_loss``
        with ``early_stopping``).
    epsilon_, delta_ : float or None
        Privacy budget actually spent (None when trained without ``epsilon``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str or None
        The column names when fitted on a DataFrame whose column names are all
        strings, else None.

    Examples
    --------
    >>> from tssynth import TVAESynthesizer
    >>> from tssynth.datasets import load_adult
    >>> adult = load_adult()
    >>> synthesizer = TVAESynthesizer(epochs=30, random_state=0).fit(adult)  # doctest: +SKIP
    >>> synthetic = synthesizer.sample(1000)  # doctest: +SKIP
    """

    _data_attribute_names = (
        "transformer_",
        "input_format_",
        "n_features_in_",
        "feature_names_in_",
        "identifiers_",
    )
    _latent_distribution = True

    def __init__(
        self,
        embedding_dim: int = 128,
        compress_dims: tuple[int, ...] = (128, 128),
        decompress_dims: tuple[int, ...] = (128, 128),
        l2scale: float = 1e-5,
        batch_size: int = 500,
        epochs: int = 300,
        loss_factor: float = 2.0,
        learning_rate: float = 1e-3,
        latent_components: int = 10,
        derive_dependencies: bool = True,
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
        self.derive_dependencies = derive_dependencies
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

    def fit(
        self,
        X: Any,
        y: Any = None,
        discrete_columns: Iterable[Hashable] | None = None,
        metadata: Mapping[str, Iterable[Hashable]] | None = None,
    ) -> TVAESynthesizer:
        """Learn the distribution of a table.

        Parameters
        ----------
        X : DataFrame or 2-D ndarray
            Training rows. Object, string, category and boolean columns are
            categorical; numbers, datetimes and timedeltas are continuous.
        y : None
            Ignored.
        discrete_columns : list of column labels, optional
            Columns to treat as categorical whatever their dtype (positions for
            arrays).
        metadata : dict, optional
            ``{"continuous": [...], "categorical": [...]}`` overrides, and the
            public schema ``"categories": {column: [...]}`` and
            ``"bounds": {column: [low, high]}`` (used instead of private statistics
            when ``epsilon`` is set; values outside declared bounds are clipped), and
            ``"identifiers": [...]``: columns that identify a row (a customer or
            patient ID). They are not modelled; samples number them afresh (0, 1, 2,
            ... in their dtype, as text for text columns), continuing over consecutive
            ``sample`` calls, so no real identifier reaches the synthetic data.

        Returns
        -------
        self
        """
        return super().fit(X, y, discrete_columns=discrete_columns, metadata=metadata)

    # ------------------------------------------------------------ hooks

    def _validate_params(self) -> None:
        self._validate_common_params()
        check_bool("derive_dependencies", self.derive_dependencies)

    def _prepare_input(
        self,
        X: Any,
        discrete_columns: Iterable[Hashable] | None = None,
        metadata: Mapping[str, Iterable[Hashable]] | None = None,
    ) -> PreparedInput:
        frame, input_format = as_frame(X)
        check_frame(frame)  # duplicate names first: identifiers are located by name
        discrete_columns, metadata = check_declarations(discrete_columns, metadata, frame.columns)
        names = list(dict.fromkeys([] if metadata is None else metadata.pop(IDENTIFIERS, [])))
        _check_identifiers(names, frame, input_format, discrete_columns, metadata)
        identifiers = [
            {
                "name": name,
                "position": frame.columns.get_loc(name),
                "dtype": dtype_name(frame[name].dtype, _identifier_kind(frame[name].dtype)),
            }
            for name in names
        ]
        identifiers.sort(key=lambda column: column["position"])
        modelled = frame.drop(columns=names) if names else frame
        schema = infer_schema(modelled, discrete_columns, metadata)
        signature = [[repr(c.name), c.kind, c.dtype] for c in schema]
        signature += [[repr(c["name"]), "identifier", c["dtype"]] for c in identifiers]
        extras = {
            "schema": schema,
            "input_format": input_format,
            "identifiers": identifiers,
            "columns": frame.columns.to_list(),
        }
        return PreparedInput(modelled, signature, extras, len(frame))

    def _fit_data(
        self, prepared: PreparedInput, seed: int, budget: DataBudget | None
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        frame, schema = prepared.data, prepared.extras["schema"]
        if budget is not None:
            budget.reserve(private_units(schema))
        transformer = DataTransformer(
            random_state=seed, derive_dependencies=bool(self.derive_dependencies)
        ).fit(frame, schema, budget)
        arrays = [transformer.transform(frame, np.random.default_rng(seed))]
        names = prepared.extras["columns"]
        attributes = {
            "identifiers_": {"columns": prepared.extras["identifiers"], "issued": 0},
            "transformer_": transformer,
            "input_format_": prepared.extras["input_format"],
            "n_features_in_": len(names),
            "feature_names_in_": (
                np.asarray(names, dtype=object) if all(isinstance(n, str) for n in names) else None
            ),
        }
        return attributes, arrays

    def _missing_indicator_dims(self, attributes: dict[str, Any]) -> list[int]:
        return attributes["transformer_"].missing_indicator_dims

    def _category_dims(self, attributes: dict[str, Any]) -> list[int]:
        return attributes["transformer_"].category_dims

    def _build_module(self, attributes: dict[str, Any]) -> TVAE:
        transformer = attributes["transformer_"]
        return TVAE(
            transformer.spans,
            self.embedding_dim,
            self.compress_dims,
            self.decompress_dims,
            self.loss_factor,
            transformer.point_masses,
        )

    def _data_state(self, attributes: dict[str, Any]) -> dict[str, Any]:
        names = attributes["feature_names_in_"]
        return {
            "transformer": attributes["transformer_"].to_state(),
            "input_format": attributes["input_format_"],
            "feature_names_in": None if names is None else list(names),
            "identifiers": dict(attributes["identifiers_"]),
        }

    def _data_attributes(self, state: dict[str, Any]) -> dict[str, Any]:
        transformer = DataTransformer.from_state(state["transformer"])
        names = state["feature_names_in"]
        identifiers = dict(state.get("identifiers", {"columns": [], "issued": 0}))  # older files
        return {
            "identifiers_": identifiers,
            "transformer_": transformer,
            "input_format_": state["input_format"],
            "n_features_in_": len(transformer.columns) + len(identifiers["columns"]),
            "feature_names_in_": None if names is None else np.asarray(names, dtype=object),
        }

    # ------------------------------------------------------------ public API

    def sample(self, n_samples: int) -> pd.DataFrame | np.ndarray:
        """Draw ``n_samples`` synthetic rows.

        Consecutive calls continue one random stream, so they give different rows;
        the same ``random_state`` gives the same sequence of calls' results.

        Parameters
        ----------
        n_samples : int
            Any non-negative number, also larger than the training set.

        Returns
        -------
        DataFrame (or 2-D ndarray when fitted on an array) with the fitted columns and dtypes.
        """
        n = self._check_n("n_samples", n_samples)
        if n == 0:
            return self._assemble([], advance=True)
        needed = n * self._sample_bytes_per_record()
        if not fits_in_memory(needed):
            raise InvalidParameterError(
                f"sample({n:,}) would take about {shown_bytes(needed)}, more than half "
                "this machine's memory; draw fewer rows per call (consecutive calls give new "
                "rows), or stream them to a file with `tssynth sample MODEL -n N -o FILE`."
            )
        chunk = min(_SAMPLE_CHUNK, self._chunk_rows(_SAMPLE_CHUNK_VALUES))
        # Drawn and decoded a block at a time, so that decoding's float64 temporaries
        # take a block's memory, not the result's many times over; blocks are whole
        # chunks, so the torch draws are the same as in one call.
        block = chunk * max(1, self._chunk_rows(_DECODE_BLOCK_VALUES) // chunk)
        generator, batches = self._generator(), []
        for start in range(0, n, block):
            draws = self.module_.draw(min(block, n - start), generator, chunk)
            batches.append(
                self.transformer_.decode_draws(
                    draws.means.cpu().numpy(),
                    draws.choices.cpu().numpy(),
                    draws.sigmas.cpu().numpy(),
                    self._sample_rng,
                )
            )
        return self._assemble(batches, advance=True)

    def _sample_bytes_per_record(self) -> float:
        # 8 bytes per span for the draws and three times 8 per column: the decoded
        # blocks, their concatenation and the result (benchmarks/sample_memory.py, 1M
        # rows: Adult peaks at 481 MiB for 488 counted, 30 floats at 740 for 1,144).
        transformer = self.transformer_
        return 8.0 * (3 * len(transformer.columns) + len(transformer.spans))

    def _assemble(self, batches: list[dict[str, np.ndarray]], advance: bool) -> Any:
        """The decoded batches as one result in the fitted format, identifiers added.

        Samples (``advance``) number identifiers on from those issued so far; decoded
        latents number them from 0.
        """
        if not batches:
            empty = np.zeros((0, self.transformer_.output_dim), dtype=np.float32)
            batches = [self.transformer_.decode(empty)]
        frame = self.transformer_.assemble(batches)
        state = self.identifiers_
        if not state["columns"]:
            return from_frame(frame, self.input_format_)
        start = 0
        if advance:
            with _ISSUING:  # samples drawn from several threads get disjoint numbers
                start = state["issued"]
                state["issued"] += len(frame)
        numbers = np.arange(start, start + len(frame))
        for column in state["columns"]:  # in position order, so each lands in its place
            frame.insert(column["position"], column["name"], _fresh_identifiers(numbers, column))
        return from_frame(frame, self.input_format_)

    def _model_arrays(self, X: Any) -> Iterator[torch.Tensor]:
        """The model arrays of ``X`` in chunks of rows (at least one, maybe empty)."""
        self._check_fitted()
        frame, input_format = as_frame(X)
        if input_format["kind"] != self.input_format_["kind"]:
            fitted = "a DataFrame" if self.input_format_["kind"] == "frame" else "a 2-D array"
            raise InvalidDataError(f"This synthesizer was fitted on {fitted}; pass {fitted}.")
        if input_format["kind"] == "array" and frame.shape[1] != self.n_features_in_:
            raise InvalidDataError(
                f"X has {frame.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (the columns it was fitted on)."
            )
        self.transformer_.warn_unseen_categories(frame, "X")
        chunk = self._chunk_rows(_ENCODE_CHUNK_VALUES)
        for start in range(0, max(len(frame), 1), chunk):
            array = self.transformer_.transform(frame.iloc[start : start + chunk])
            yield torch.from_numpy(array).to(self.device_)

    def _chunk_rows(self, values: int) -> int:
        """Rows per chunk that hold about ``values`` model-array values."""
        return max(1, values // max(self.transformer_.output_dim, 1))

    def transform(self, X: Any) -> np.ndarray:
        """Latent means of the rows of ``X``.

        Parameters
        ----------
        X : DataFrame or 2-D ndarray
            Rows with every fitted column (extra columns are ignored). Categories
            unseen in training are encoded as "none of the known ones", with a
            :class:`~tssynth.exceptions.DataWarning` naming them.

        Returns
        -------
        ndarray of shape (n_rows, embedding_dim), float32
        """
        with torch.no_grad():
            return np.concatenate(
                [self.module_.encode(array).cpu().numpy() for array in self._model_arrays(X)]
            )

    def inverse_transform(self, X: Any) -> pd.DataFrame | np.ndarray:
        """Decode latent vectors into rows, taking the decoder's most likely values.

        Parameters
        ----------
        X : array-like of shape (n_rows, embedding_dim)

        Returns
        -------
        DataFrame (or ndarray when fitted on an array).
        """
        latents = self._latent_input(X)
        batches = []
        for rows in latents.split(self._chunk_rows(_ENCODE_CHUNK_VALUES)):
            with torch.no_grad():
                data, _ = self.module_.decode(rows)
            batches.append(self.transformer_.decode(data.cpu().numpy()))
        return self._assemble(batches, advance=False)


def _check_identifiers(
    names: list[Hashable],
    frame: pd.DataFrame,
    input_format: dict[str, Any],
    discrete_columns: list[Hashable] | None,
    metadata: dict[str, Any] | None,
) -> None:
    """Raise when ``metadata["identifiers"]`` cannot be honoured."""
    if not names:
        return
    if input_format["kind"] != "frame":
        raise InvalidParameterError(
            "metadata['identifiers'] needs a DataFrame with named columns; drop identifier "
            "columns from an array before fit."
        )
    metadata = metadata or {}
    declared = {
        *(discrete_columns or []),
        *metadata.get(CONTINUOUS, []),
        *metadata.get(CATEGORICAL, []),
        *metadata.get("categories", {}),
        *metadata.get("bounds", {}),
    }
    both = [name for name in names if name in declared]
    if both:
        raise InvalidParameterError(
            f"Columns {both} are declared as identifiers and as modelled columns "
            "(discrete_columns or another metadata key); declare each column once."
        )
    if len(set(names)) >= frame.shape[1]:
        raise InvalidParameterError(
            "metadata['identifiers'] names every column; keep at least one column to model."
        )


def _identifier_kind(dtype: Any) -> str:
    """Numbers are numbered as numbers (see :func:`_fresh_identifiers`), the rest as text."""
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    return CONTINUOUS if numeric else CATEGORICAL


def _fresh_identifiers(numbers: np.ndarray, column: dict[str, Any]) -> pd.Series:
    """``numbers`` as identifiers in the column's dtype: numbers stay numbers, else text."""
    dtype = pd.api.types.pandas_dtype(column["dtype"])
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        base = numpy_dtype(dtype)
        exact = np.iinfo(base).max if base.kind in "iu" else 2 ** (np.finfo(base).nmant + 1)
        if len(numbers) and numbers[-1] > exact:
            # More rows than the dtype numbers exactly: its 64-bit kind, nullable if it was.
            return pd.Series(numbers, dtype=_widened(dtype, base.kind))
        return pd.Series(numbers).astype(dtype)
    text = numbers.astype(str).astype(object)
    if pd.api.types.is_string_dtype(dtype) and dtype != np.dtype(object):
        return pd.Series(text, dtype=dtype)
    return pd.Series(text, dtype=object)


def _widened(dtype: Any, kind: str) -> Any:
    """The 64-bit dtype of ``kind`` ("i", "u" or "f") of the family of ``dtype``
    (numpy, pyarrow or pandas' nullable)."""
    wide = {"i": "int64", "u": "uint64", "f": "float64"}[kind]
    if isinstance(dtype, np.dtype):
        return np.dtype(wide)
    if isinstance(dtype, pd.ArrowDtype):
        return pd.api.types.pandas_dtype(f"{wide}[pyarrow]")
    return wide.capitalize().replace("Uint", "UInt")
