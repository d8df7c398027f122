"""The base of every tssynth synthesizer: fit flow, seeding, devices and generator files.

A subclass supplies four hooks:

- ``_validate_params()`` checks its constructor arguments (calling
  :meth:`BaseSynthesizer._validate_common_params`);
- ``_prepare_input(X, **fit_params)`` validates the data and returns a
  :class:`PreparedInput` (cheap: no fitting);
- ``_fit_data(prepared, seed, budget)`` fits the data layer and returns the fitted
  data attributes and the training arrays (with a
  :class:`~tssynth.data.private.DataBudget` when ``epsilon`` is set: every
  statistic it keeps must then come from the budget's mechanisms);
- ``_build_module(attributes)`` builds the torch module for those attributes;

plus ``_data_state(attributes)`` / ``_data_attributes(state)`` to store the data
layer in generator files. The base runs the shared training loop, sets fitted
attributes only once everything succeeded, and saves/loads generator files.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from tssynth._validation import (
    check_bool,
    check_dims,
    check_filepath,
    check_float,
    check_int,
    check_n_samples,
    check_random_state,
    resolve_device,
)
from tssynth.data.frame import fingerprint
from tssynth.data.memory import memory_budget
from tssynth.data.private import DataBudget, private_gaussian_moments
from tssynth.exceptions import (
    DataWarning,
    GeneratorFileError,
    InvalidDataError,
    InvalidParameterError,
    PrivacyWarning,
    caller_stacklevel,
)
from tssynth.nn.modules import PRIVATE_SIGMA_MIN, Decoder
from tssynth.nn.private import PrivacyConfig, releases_epsilon, require_opacus
from tssynth.nn.ragged import Ragged
from tssynth.serialization import check_save_path, read_generator, write_generator
from tssynth.training import TrainingConfig, train

# The signature entry of a sequence index's dtype (absent from files written before it).
INDEX_ENTRY = "<index>"

# Parameters that do not change what a generator file holds.
_RUNTIME_PARAMS = {"device", "verbose", "generator_filepath"}

# Share of epsilon and delta that the data layer may spend on private statistics
# (category sets, bounds, frequent values, lengths); a public schema that covers
# every column leaves it all to DP-SGD.
DATA_BUDGET_SHARE = 0.2
# Models with a fitted latent distribution release its mean and covariance: the
# clipping radii spend this share (basic composition), the two Gaussian releases
# (this noise multiplier) are accounted with the DP-SGD steps.
LATENT_BUDGET_SHARE = 0.05
LATENT_NOISE_MULTIPLIER = 8.0
_LATENT_RADIUS_UNITS = 4  # two private quantiles, each in a privately found domain


@dataclass
class PreparedInput:
    """Validated training input, before any fitting.

    Attributes
    ----------
    data : Any
        What ``_fit_data`` consumes.
    signature : list
        Plain description of the columns (names, kinds, dtypes); a generator file
        is reused by ``fit`` only when its signature is equal.
    extras : dict
        Anything else a subclass wants to carry to ``_fit_data``.
    n_records : int
        Independent records (rows, windows or sequences): the unit of differential
        privacy and of the default ``delta``.
    """

    data: Any
    signature: list[Any]
    extras: dict[str, Any] = field(default_factory=dict)
    n_records: int = 0


_SHARE_FLOOR = 1e-3  # log floor of a share that training starts from


def _start_at_training_shares(
    module: torch.nn.Module, arrays: list[Any], dims: list[int], categories: list[int]
) -> None:
    """Start the decoder's outputs ``dims`` (softmax columns), and those of the
    ``categories`` columns that training never takes (declared in a public schema but
    absent from the data), at their training shares (see
    :meth:`~tssynth.nn.modules.Decoder.start_at`)."""
    decoder = getattr(module, "decoder", None)
    if not (dims or categories) or not isinstance(decoder, Decoder):
        return
    data = arrays[0]
    rows = data.steps if isinstance(data, Ragged) else torch.as_tensor(data)
    if categories:
        taken = rows.index_select(1, torch.tensor(categories, dtype=torch.long)).amax(0) > 0
        unseen = [c for c, t in zip(categories, taken.tolist(), strict=True) if not t]
        dims = sorted({*dims, *unseen})
    if not dims:
        return
    index = torch.tensor(dims, dtype=torch.long)
    shares = rows.index_select(1, index).double().mean(0).clamp(min=_SHARE_FLOOR)
    decoder.start_at(index, shares.log().float())


def _seeds(random_state: int | None) -> dict[str, int]:
    """Independent seeds: data layer, initialisation, training, sampling, latent distribution."""
    children = np.random.SeedSequence(random_state).spawn(5)
    names = ("data", "init", "train", "sample", "latent")
    return {
        name: int(child.generate_state(1)[0]) for name, child in zip(names, children, strict=True)
    }


_LATENT_MIXTURE_ROWS = 5_000
_LATENT_STATISTIC_ROWS = 100_000  # rows whose codes give the means and spreads
# EM passes: on Adult the log-likelihood of all codes after 10 passes is within 0.1 of
# that after 25 (convergence), for a third of the time.
_LATENT_MIXTURE_PASSES = 10
_ACTIVE_UNIT_VARIANCE = 0.01


def _fit_latent_mixture(
    module: torch.nn.Module, x: torch.Tensor, components: int, seed: int
) -> None:
    """A Gaussian mixture over the posterior means (ex-post density estimation).

    Ghosh et al. (2020) sample a VAE's decoder from a mixture fitted to the
    training codes: where the codes lie on a curved or clustered set (a price
    history, regimes of a sensor), one Gaussian fills the space between them with
    codes the decoder never saw. Each component's covariance also gets the mean
    posterior variance, as the single Gaussian does.

    Only the active dimensions (posterior means varying by more than 0.01 across
    rows, Burda et al. 2016) enter the mixture; the collapsed ones carry no
    information, so each is sampled from its own marginal Gaussian. The codes of at
    most 100,000 rows (a random subset) give the means and spreads, 5,000 of them the
    EM. EM runs in float32 (half the time of float64) and falls back to float64, then
    to one Gaussian, when a component's covariance is not positive definite.
    """
    rng = np.random.default_rng(seed)
    if len(x) > _LATENT_STATISTIC_ROWS:  # the codes of 1M rows in float64 would take 1 GB
        rows = np.sort(rng.choice(len(x), _LATENT_STATISTIC_ROWS, replace=False))
        x = x[torch.as_tensor(rows, device=x.device)]
    means, variance = module.posterior_moments(x)
    codes, variance = means.cpu().numpy(), variance.cpu().numpy()
    spread = codes.var(axis=0)
    active = spread > _ACTIVE_UNIT_VARIANCE
    if not active.any():
        _one_gaussian(module, codes, variance)
        return
    fit_codes = codes
    if len(fit_codes) > _LATENT_MIXTURE_ROWS:  # EM costs rows x components x dim^2 per pass
        fit_codes = fit_codes[rng.choice(len(fit_codes), _LATENT_MIXTURE_ROWS, replace=False)]
    fit_codes = fit_codes[:, active]  # after the subsample: no copy of every row
    mixture_seed = int(rng.integers(2**31))
    # One BLAS thread: the EM's matrices are small, and BLAS threads left spinning after
    # it took the cores from torch (the first sample after fit: 100-180 ms, not 55).
    with threadpool_limits(1, user_api="blas"):
        mixture = _em(fit_codes, components, mixture_seed)
    if mixture is None:
        _one_gaussian(module, codes, variance)
        return
    k, dim = mixture.n_components, codes.shape[1]
    locs = np.broadcast_to(codes.mean(axis=0), (k, dim)).copy()
    locs[:, active] = mixture.means_
    covariances = np.broadcast_to(np.diag(np.where(active, 0.0, spread) + variance), (k, dim, dim))
    covariances = covariances.copy()
    block = np.ix_(active, active)
    covariances[:, block[0], block[1]] += mixture.covariances_
    module.set_latent_mixture(mixture.weights_, locs, covariances)


def _em(codes: np.ndarray, components: int, seed: int) -> GaussianMixture | None:
    """The capped EM in float32, else float64; None when a component collapses in both."""
    for dtype in (np.float32, np.float64):
        candidate = GaussianMixture(
            components,
            covariance_type="full",
            reg_covar=1e-6,
            max_iter=_LATENT_MIXTURE_PASSES,
            random_state=seed,
        )
        with warnings.catch_warnings():  # a capped EM is intended: fast, and good enough
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                return candidate.fit(codes.astype(dtype))
            except ValueError:  # a collapsed component: ill-defined covariance
                continue
    return None


def _one_gaussian(module: torch.nn.Module, codes: np.ndarray, variance: np.ndarray) -> None:
    """Sample latents from one Gaussian: the codes' mean and covariance plus ``variance``."""
    covariance = np.atleast_2d(np.cov(codes, rowvar=False)) + np.diag(variance)
    module.set_latent_distribution(codes.mean(axis=0), covariance)


class BaseSynthesizer(TransformerMixin, BaseEstimator):
    """Shared machinery of tssynth synthesizers (not used directly)."""

    _registry: ClassVar[dict[str, type[BaseSynthesizer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        BaseSynthesizer._registry[cls.__name__] = cls

    # ------------------------------------------------------------- parameters

    def _validate_common_params(self) -> None:
        check_int("embedding_dim", self.embedding_dim)
        for name in ("compress_dims", "decompress_dims"):
            value = getattr(self, name)
            if value is not None or not self._widths_from_data:
                check_dims(name, value)
        check_float("l2scale", self.l2scale, 0.0)
        check_int("batch_size", self.batch_size)
        check_int("epochs", self.epochs)
        if self._latent_distribution:
            check_int("latent_components", self.latent_components)
        check_float("loss_factor", self.loss_factor, 0.0, inclusive=False)
        check_float("learning_rate", self.learning_rate, 0.0, inclusive=False)
        check_random_state(self.random_state)
        check_filepath("generator_filepath", self.generator_filepath)
        if self.epsilon is not None:
            check_float("epsilon", self.epsilon, 0.0, inclusive=False)
            require_opacus()
        if self.delta is not None:
            check_float("delta", self.delta, 0.0, inclusive=False)
            if self.delta >= 1.0 or self.epsilon is None:
                raise InvalidParameterError(
                    f"delta must be in (0, 1) and needs epsilon to be set; got delta="
                    f"{self.delta!r} with epsilon={self.epsilon!r}."
                )
        check_float("max_grad_norm", self.max_grad_norm, 0.0, inclusive=False)
        check_bool("early_stopping", self.early_stopping)
        if self.early_stopping:  # read only then, as in scikit-learn
            check_float("validation_fraction", self.validation_fraction, 0.0, inclusive=False)
            if self.validation_fraction >= 1.0:
                raise InvalidParameterError(
                    f"validation_fraction must be below 1, got {self.validation_fraction!r}."
                )
            check_int("n_iter_no_change", self.n_iter_no_change)
        if self.early_stopping and self.epsilon is not None:
            raise InvalidParameterError(
                "early_stopping=True reads held-out records every epoch, which differential "
                "privacy does not account for; set early_stopping=False with epsilon."
            )
        check_bool("verbose", self.verbose)
        resolve_device(self.device)

    def _training_config(self) -> TrainingConfig:
        return TrainingConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.l2scale,
            validation_fraction=self.validation_fraction if self.early_stopping else 0.0,
            patience=self.n_iter_no_change,
            verbose=bool(self.verbose),
            description=type(self).__name__,
        )

    # ---------------------------------------------------------------- fitting

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> BaseSynthesizer:
        """Learn the distribution of ``X``.

        When ``generator_filepath`` names an existing file, that generator is
        loaded instead of training (after checking it was fitted on the same
        columns); otherwise the trained generator is saved there.

        With ``early_stopping=True``, ``validation_fraction`` of the records (rows,
        windows or sequences; at least one on each side) are held out; training
        stops once their loss has not gone below its lowest for
        ``n_iter_no_change`` epochs, the weights of the epoch with the lowest are
        kept, and ``loss_history_`` gains a ``val_loss`` column. Not with ``epsilon``:
        the held-out loss is read every epoch outside the privacy accounting. Windows
        cut every step overlap, so held-out windows share steps with trained ones (a
        ``stride`` of the window length keeps them apart).

        Parameters
        ----------
        X : DataFrame or ndarray
            Training data.
        y : None
            Ignored; present for scikit-learn pipelines.
        **fit_params
            Passed to the data preparation of the subclass (for example
            ``discrete_columns``).

        Returns
        -------
        self
        """
        self._validate_params()
        # A copy: a list the caller passed (compress_dims) and changes later must not
        # change what this model records as fitted and saves.
        params = copy.deepcopy(self.get_params(deep=False))
        device = resolve_device(self.device)
        prepared = self._prepare_input(X, **fit_params)
        path = self.generator_filepath
        if path is not None:
            if Path(path).expanduser().is_file():  # loaded: its folder need not be writable
                self._load_generator_into_self(path, prepared, X)
                return self
            try:
                check_save_path(path, "the trained generator (generator_filepath)")
            except GeneratorFileError as exc:
                raise InvalidParameterError(str(exc)) from None
        if self.early_stopping:  # validation_fraction is read (and checked) only then
            held_out = round(prepared.n_records * self.validation_fraction)
            if not 0 < held_out < prepared.n_records:
                raise InvalidParameterError(
                    f"early_stopping holds out validation_fraction={self.validation_fraction} "
                    f"of the {prepared.n_records:,} records, {held_out}: it needs at least one "
                    "to hold out and one to train on; change validation_fraction or set "
                    "early_stopping=False."
                )
        seeds = _seeds(self.random_state)
        budget = self._data_budget(prepared.n_records, seeds["data"])
        release_latents = self._latent_distribution and (
            budget is None or self._latent_release_affordable(prepared.n_records)
        )
        latent_budget = self._latent_budget(prepared.n_records, budget) if release_latents else None
        attributes, arrays = self._fit_data(prepared, seeds["data"], budget)
        with torch.random.fork_rng(devices=[]):
            # CPU only: torch.manual_seed would also reseed (and not restore) CUDA.
            torch.random.default_generator.manual_seed(seeds["init"])
            module = self._new_module(attributes)
        if budget is None:  # the shares are the data's: not under differential privacy
            _start_at_training_shares(
                module,
                arrays,
                self._missing_indicator_dims(attributes),
                self._category_dims(attributes),
            )
        config = self._training_config()
        # The latent radii run after training and always spend their whole share.
        latent_share = (
            (0.0, 0.0) if latent_budget is None else (latent_budget.epsilon, latent_budget.delta)
        )
        if budget is not None:
            for part in module.modules():
                if isinstance(part, Decoder):
                    part.sigma_min = PRIVATE_SIGMA_MIN
            config = replace(
                config,
                privacy=PrivacyConfig(
                    epsilon=self.epsilon - budget.epsilon_spent - latent_share[0],
                    delta=self._total_delta(prepared.n_records)
                    - budget.delta_spent
                    - latent_share[1],
                    max_grad_norm=self.max_grad_norm,
                    releases=(LATENT_NOISE_MULTIPLIER,) * 2 if release_latents else (),
                ),
            )
        lengths = self._sequence_lengths(arrays)
        result = train(module, arrays, config, device, seeds["train"], lengths)
        self._after_training(module, arrays, device, latent_budget, seeds["latent"])
        privacy = {"epsilon": None, "delta": None, "noise_multiplier": None}
        if budget is not None:
            privacy = {
                "epsilon": budget.epsilon_spent + latent_share[0] + result.epsilon,
                "delta": budget.delta_spent + latent_share[1] + config.privacy.delta,
                "latent_release": None
                if latent_budget is None
                else {
                    "noise_multiplier": LATENT_NOISE_MULTIPLIER,
                    "radii": [[what, e] for what, e in latent_budget.spent],
                },
                "noise_multiplier": result.noise_multiplier,
                "data_layer": [[what, e] for what, e in budget.spent],
            }
        # An exact hash of the records is no part of a private release.
        records = fingerprint(X) if budget is None else None
        attributes = {**attributes, "privacy_": privacy, "_fingerprint": records}
        self._set_fitted(
            params,
            attributes,
            module,
            prepared.signature,
            pd.DataFrame(result.history),
            np.random.default_rng(seeds["sample"]),
            device,
        )
        if path is not None:
            self.save(path)
        return self

    def _total_delta(self, n_records: int) -> float:
        return float(self.delta) if self.delta is not None else 1.0 / max(n_records, 2)

    def _data_budget(self, n_records: int, seed: int) -> DataBudget | None:
        """The data layer's share of the privacy budget (None without ``epsilon``)."""
        if self.epsilon is None:
            return None
        if self.delta is not None and self.delta * n_records > 1.0:
            warnings.warn(
                f"delta={self.delta:g} is above 1 / the {n_records:,} records: a mechanism "
                "that releases a record outright with that chance meets it. Use a delta of "
                "at most 1 / records (the default), better well below.",
                PrivacyWarning,
                stacklevel=caller_stacklevel(),
            )
        return DataBudget(
            epsilon=self.epsilon * DATA_BUDGET_SHARE,
            delta=self._total_delta(n_records) * DATA_BUDGET_SHARE,
            rng=np.random.default_rng(seed),
        )

    def _latent_budget(self, n_records: int, data_budget: DataBudget | None) -> DataBudget | None:
        """The budget of the latent release's clipping radii (None without it or without DP)."""
        if data_budget is None or not self._latent_distribution:
            return None
        budget = DataBudget(
            epsilon=self.epsilon * LATENT_BUDGET_SHARE,
            delta=self._total_delta(n_records) * LATENT_BUDGET_SHARE,
            rng=np.random.default_rng(data_budget.rng.integers(2**63)),
        )
        budget.reserve(_LATENT_RADIUS_UNITS)
        return budget

    def _latent_release_affordable(self, n_records: int) -> bool:
        """Whether the latent release leaves DP-SGD anything (5 % of its share) to train with.

        Its two Gaussian releases cost about 0.5 to 0.8 of epsilon whatever the
        budget. Where they leave training nothing, which made fit refuse to train,
        samples draw latents from the prior N(0, I) instead, with a warning; where
        training could run with them, they are kept (the released Gaussian is worth
        far more fidelity than the few training steps it costs).
        """
        share = 1.0 - DATA_BUDGET_SHARE - LATENT_BUDGET_SHARE
        training = self.epsilon * share
        cost = releases_epsilon(
            (LATENT_NOISE_MULTIPLIER,) * 2, self._total_delta(n_records) * share
        )
        if cost <= 0.95 * training:
            return True
        warnings.warn(
            f"epsilon={self.epsilon:.3g} is too small to release the latent distribution as "
            f"well (it alone would spend {cost:.2g}); samples draw their latents from the "
            "prior N(0, I), and the whole budget goes to training.",
            PrivacyWarning,
            stacklevel=caller_stacklevel(),
        )
        return False

    @property
    def epsilon_(self) -> float | None:
        """Epsilon actually spent by ``fit`` (data layer + DP-SGD); None without DP."""
        self._check_fitted()
        return self.privacy_["epsilon"]

    @property
    def delta_(self) -> float | None:
        """Delta actually spent by ``fit``; None without DP."""
        self._check_fitted()
        return self.privacy_["delta"]

    def _set_fitted(
        self,
        params: dict[str, Any],
        attributes: dict[str, Any],
        module: torch.nn.Module,
        signature: list[Any],
        history: pd.DataFrame,
        rng: np.random.Generator,
        device: torch.device,
    ) -> None:
        for name, value in attributes.items():
            setattr(self, name, value)
        self.module_ = module.to(device).eval()
        self.signature_ = signature
        self.loss_history_ = history
        self.device_ = device
        self._sample_rng = rng
        # What the fitted state was built with: set_params after fit changes nothing
        # until the next fit, and generator files record these.
        self._fitted_params = dict(params)

    def _fitted(self, name: str) -> Any:
        """The value parameter ``name`` had when the model was fitted."""
        return self._fitted_params[name]

    def _sample_bytes_per_record(self) -> float | None:
        """Peak memory of ``sample`` per record drawn (None: no estimate)."""
        return None

    def _sample_chunk_limit(self) -> int | None:
        """Most records one ``sample`` call may draw in this machine's memory (None: no
        estimate), so that ``tssynth sample`` can size its chunks to fit."""
        per_record = self._sample_bytes_per_record()
        return None if per_record is None else max(1, int(memory_budget() / per_record))

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(data) first."
            )

    # --------------------------------------------------------------- sampling

    def _check_n(self, name: str, n: Any) -> int:
        self._check_fitted()
        return check_n_samples(name, n)

    def _generator(self) -> torch.Generator:
        """A torch generator on the fitted device, seeded from the sampling stream.

        The numpy sampling stream seeds every generator, so its state alone (saved in
        generator files) fixes every later draw.
        """
        generator = torch.Generator(device=self.device_)
        generator.manual_seed(int(self._sample_rng.integers(2**63)))
        return generator

    def _noise(self, n: int, dim: int) -> torch.Tensor:
        """Standard normal draws ``(n, dim)`` on the fitted device, from the sampling stream."""
        return torch.randn((n, dim), generator=self._generator(), device=self.device_)

    def _latent_input(self, X: Any) -> torch.Tensor:
        """``X`` of :meth:`inverse_transform` as latents on the fitted device, shape-checked."""
        self._check_fitted()
        width = self._fitted("embedding_dim")
        try:
            z = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(
                f"inverse_transform expects numeric latents of shape (n, {width}), "
                f"e.g. the output of transform; converting them failed: {exc}"
            ) from exc
        if z.ndim != 2 or z.shape[1] != width:
            raise InvalidDataError(
                f"inverse_transform expects latents of shape (n, {width}), got {z.shape}."
            )
        rows = np.flatnonzero(~np.isfinite(z).all(axis=1))
        if rows.size:
            raise InvalidDataError(
                f"inverse_transform got latents that are NaN or infinite in {rows.size} rows "
                f"(first: row {rows[0]}); pass finite values."
            )
        # A read-only view (pandas 3 frames give one) would make torch warn.
        return torch.from_numpy(np.require(z, requirements="W")).to(self.device_)

    def _scoring_generator(self) -> torch.Generator:
        """A torch generator seeded from the fitted ``random_state`` (0 when None), for
        noise that must be the same in every call, such as ``score_samples``."""
        seed = self._fitted("random_state")
        generator = torch.Generator(device=self.device_)
        generator.manual_seed(0 if seed is None else int(seed) % 2**64)
        return generator

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the latent dimensions returned by :meth:`transform` (``latent0`` ...),
        as many as the fitted ``embedding_dim`` once fitted."""
        fitted = getattr(self, "_fitted_params", None)
        width = self.embedding_dim if fitted is None else fitted["embedding_dim"]
        return np.asarray([f"latent{i}" for i in range(width)], dtype=object)

    def _latents(self, n: int) -> torch.Tensor:
        """``n`` draws of the fitted module's latent distribution, from the sampling stream."""
        return self.module_.draw_latents(n, self._generator())

    # ----------------------------------------------------------- generator files

    def save(self, path: str | Path) -> Path:
        """Save the fitted generator to ``path`` (written atomically).

        The file holds the parameters, the model weights as CPU arrays, the data
        layer's state, the sampling random state, a format version and a checksum.
        Load it with ``type(self).load(path)`` or :func:`tssynth.load`.

        Returns
        -------
        Path
        """
        self._check_fitted()
        check_filepath("path", path, required=True)
        return write_generator(path, type(self).__name__, self._payload())

    def _payload(self) -> dict[str, Any]:
        attributes = {name: getattr(self, name) for name in self._data_attribute_names}
        history = self.loss_history_
        if self.privacy_.get("epsilon") is not None:  # losses on the records: no DP release
            history = history.iloc[:0]
        return {
            "params": self._fitted_params,
            "signature": self.signature_,
            "data": self._data_state(attributes),
            "module": {k: v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()},
            "loss_history": history.to_dict(orient="list"),
            "rng_state": self._sample_rng.bit_generator.state,
            "privacy": self.privacy_,
            "fingerprint": getattr(self, "_fingerprint", None),  # pickled before it: none
        }

    @classmethod
    def load(cls, path: str | Path) -> BaseSynthesizer:
        """Load a generator saved with :meth:`save`.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        The fitted synthesizer.

        Raises
        ------
        GeneratorFileError
            When the file is missing, damaged, truncated, foreign, too new, or
            holds another kind of synthesizer.
        InvalidParameterError
            When ``path`` is not a file path.
        """
        check_filepath("path", path, required=True)
        class_name, payload = read_generator(path)
        target = BaseSynthesizer._registry.get(class_name)
        if target is None:
            raise GeneratorFileError(
                f"{str(path)!r} holds a {class_name!r}, which this tssynth does not know."
            )
        if not issubclass(target, cls):
            raise GeneratorFileError(
                f"{str(path)!r} holds a {class_name}, not a {cls.__name__}; load it with "
                f"{class_name}.load() or tssynth.load()."
            )
        try:
            estimator = target(**payload["params"])
            estimator._restore(payload, str(path))
        except GeneratorFileError:
            raise
        except Exception as exc:
            raise GeneratorFileError(
                f"{str(path)!r} could not be restored ({type(exc).__name__}: {exc})."
            ) from exc
        return estimator

    def _restore(self, payload: dict[str, Any], source: str) -> None:
        try:
            device = resolve_device(self.device)
        except InvalidParameterError:
            warnings.warn(
                f"{source} was saved with device={self.device!r}, which is not available "
                "here; using the CPU.",
                stacklevel=caller_stacklevel(),
            )
            device = torch.device("cpu")
        attributes = self._data_attributes(payload["data"])
        attributes["privacy_"] = payload.get(
            "privacy", {"epsilon": None, "delta": None, "noise_multiplier": None}
        )
        attributes["_fingerprint"] = payload.get("fingerprint")  # None: files before it
        module = self._new_module(attributes)
        module.load_state_dict({k: torch.as_tensor(v) for k, v in payload["module"].items()})
        rng = np.random.default_rng()
        rng.bit_generator.state = payload["rng_state"]
        history = pd.DataFrame(payload["loss_history"])
        self._set_fitted(
            payload["params"], attributes, module, payload["signature"], history, rng, device
        )

    def _load_generator_into_self(self, path: str | Path, prepared: PreparedInput, X: Any) -> None:
        signature, n_records = prepared.signature, prepared.n_records
        class_name, payload = read_generator(path)
        if class_name != type(self).__name__:
            raise GeneratorFileError(
                f"generator_filepath {str(path)!r} holds a {class_name}, not a "
                f"{type(self).__name__}; delete it or choose another path to train anew."
            )
        stored = payload["signature"]
        if not any(entry[0] == INDEX_ENTRY for entry in stored):  # files before it
            signature = [entry for entry in signature if entry[0] != INDEX_ENTRY]
        if stored != signature:
            raise InvalidDataError(
                f"generator_filepath {str(path)!r} was trained on other data than the data "
                f"passed to fit: {_difference(stored, signature)}; delete the file or choose "
                "another path to train anew."
            )
        self._check_stored_privacy(payload.get("privacy") or {}, path, n_records)
        self._check_stored_records(payload.get("fingerprint"), path, X)
        # Parameters newer than the file were at their defaults when it was trained.
        defaults = type(self)().get_params(deep=False)
        stored = {
            k: v for k, v in {**defaults, **payload["params"]}.items() if k not in _RUNTIME_PARAMS
        }
        current = {k: v for k, v in self.get_params(deep=False).items() if k not in _RUNTIME_PARAMS}
        differing = sorted(k for k in stored if _param_differs(stored[k], current.get(k)))
        if differing:
            warnings.warn(
                f"generator_filepath {str(path)!r} was trained with other values of {differing}; "
                "using the saved generator as it is. Delete the file to train with the new values.",
                stacklevel=caller_stacklevel(),
            )
        # The module is built from the stored parameters (its architecture must match
        # the weights); the estimator's own parameters are put back, as fit must leave them.
        asked = self.get_params(deep=False)
        self.set_params(**{k: stored[k] for k in differing})
        try:
            self._restore(payload, str(path))
        finally:
            self.set_params(**{k: asked[k] for k in differing})

    def _check_stored_records(self, stored: dict[str, int] | None, path: Any, X: Any) -> None:
        """Warn when ``generator_filepath`` was trained on other records than ``X`` (a
        new cross-validation fold, updated data): the file is used as it is."""
        passed = fingerprint(X)
        if stored is None or passed is None or stored == passed:
            return
        warnings.warn(
            f"generator_filepath {str(path)!r} was trained on other records than those passed "
            f"to fit ({stored['rows']:,} then, {passed['rows']:,} now, same columns); using "
            "the saved generator as it is, so it has not seen these records. Delete the file "
            "(or give each fold or dataset its own path) to train on them.",
            DataWarning,
            stacklevel=caller_stacklevel(),
        )

    def _check_stored_privacy(self, spent: dict[str, Any], path: Any, n_records: int) -> None:
        """Refuse a generator file less private than the ``epsilon`` / ``delta`` asked for
        (``delta`` None: 1 / records), read from what the file's training spent: using it
        as it is, as with other differing parameters, would release it."""
        if self.epsilon is None:
            return
        asked = (float(self.epsilon), self._total_delta(n_records))
        epsilon, delta = spent.get("epsilon"), spent.get("delta")
        # spent to within the accountants' rounding
        if epsilon is not None and delta is not None:
            if epsilon <= asked[0] * (1 + 1e-9) and delta <= asked[1] * (1 + 1e-9):
                return
        trained = (
            "without differential privacy"
            if epsilon is None
            else f"spending epsilon={epsilon:.4g}, delta={delta}"
        )
        raise InvalidParameterError(
            f"generator_filepath {str(path)!r} was trained {trained}, less private than "
            f"epsilon={asked[0]:g}, delta={asked[1]:.3g} asked for; delete the file or "
            "choose another path to train privately."
        )

    # ------------------------------------------------------------ subclass hooks

    _data_attribute_names: ClassVar[Sequence[str]] = ()
    #: Whether the module samples latents from a Gaussian fitted after training to the
    #: aggregated posterior (``fit_latent_distribution``; under DP a private release of
    #: its mean and covariance, :func:`~tssynth.data.private.private_gaussian_moments`).
    _latent_distribution: ClassVar[bool] = False
    #: Whether ``compress_dims``/``decompress_dims`` may be None: widths set from the data.
    _widths_from_data: ClassVar[bool] = False
    #: Whether NaN in the input is a missing value the model learns (scikit-learn's
    #: ``allow_nan`` tag); the window model needs complete windows.
    _allows_missing: ClassVar[bool] = True

    def __sklearn_tags__(self) -> Any:
        """scikit-learn (>= 1.6) tags: NaN and text allowed, float32 latents."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allows_missing
        tags.input_tags.string = tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self) -> dict[str, Any]:
        """The same tags for scikit-learn < 1.6."""
        return {"allow_nan": self._allows_missing, "preserves_dtype": [np.float32]}

    def _validate_params(self) -> None:
        raise NotImplementedError

    def _prepare_input(self, X: Any, **fit_params: Any) -> PreparedInput:
        raise NotImplementedError

    def _fit_data(
        self, prepared: PreparedInput, seed: int, budget: DataBudget | None
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        raise NotImplementedError

    def _new_module(self, attributes: dict[str, Any]) -> torch.nn.Module:
        with warnings.catch_warnings():
            # Every column constant: layers of width 0, which torch warns about.
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            try:
                return self._build_module(attributes)
            except RuntimeError as exc:
                if "alloc" not in str(exc):
                    raise
                widths = {
                    k: v
                    for k, v in self.get_params(deep=False).items()
                    if k.endswith(("dim", "dims"))
                }
                raise InvalidParameterError(
                    f"The network's layers ({widths}) do not fit in this machine's memory; "
                    "choose smaller widths."
                ) from None

    def _missing_indicator_dims(self, attributes: dict[str, Any]) -> list[int]:
        """Model-array columns of the missing-value indicators, which training starts
        at their shares (a column missing once in 800 values came back half missing
        after a few epochs). Only those: starting every category and mode at its share
        let the decoder fit the marginals without the latent, which then carried
        nothing (scikit-learn's digits: train-on-synthetic accuracy 0.44 to 0.08)."""
        return []

    def _category_dims(self, attributes: dict[str, Any]) -> list[int]:
        """Model-array columns of the categories, those of which training never takes
        (a category declared in a public schema, absent from the data) start at the
        share floor: at even odds, 3 epochs drew an absent category in 31 % of rows."""
        return []

    def _build_module(self, attributes: dict[str, Any]) -> torch.nn.Module:
        raise NotImplementedError

    def _data_state(self, attributes: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _after_training(
        self,
        module: torch.nn.Module,
        arrays: list[np.ndarray],
        device: torch.device,
        budget: DataBudget | None,
        seed: int,
    ) -> None:
        """Fit what sampling needs beyond the trained network.

        The latent sampling distribution (``_latent_distribution``): without DP a
        Gaussian mixture of :meth:`_latent_components` components fitted to the
        posterior means (one component: the aggregated posterior's moments); under
        DP one Gaussian, released privately with ``budget`` (without a budget, when
        the release is not affordable, the prior N(0, I) stays). Then, only without
        DP, :meth:`_fit_sampling_model`.
        """
        if self._latent_distribution and (self.epsilon is None or budget is not None):
            self._fit_latent_distribution(
                module, torch.as_tensor(arrays[0]).to(device), budget, seed
            )
        if self.epsilon is None:
            generator = torch.Generator(device=device)
            generator.manual_seed(int(np.random.default_rng([seed, 1]).integers(2**63)))
            self._fit_sampling_model(module, arrays, device, generator)

    def _fit_latent_distribution(
        self, module: torch.nn.Module, x: torch.Tensor, budget: DataBudget | None, seed: int
    ) -> None:
        if budget is None:
            components = self._latent_components()
            if components == 1 or len(x) < 2 * components:
                module.fit_latent_distribution(x)
            else:
                _fit_latent_mixture(module, x, components, seed)
            return
        generator = torch.Generator(device=x.device)
        generator.manual_seed(int(budget.rng.integers(2**63)))
        codes = module.posterior_draws(x, generator).double().cpu().numpy()
        mean, covariance = private_gaussian_moments(
            codes, budget, LATENT_NOISE_MULTIPLIER, "latent codes"
        )
        module.set_latent_distribution(mean, covariance)

    def _fit_sampling_model(
        self,
        module: torch.nn.Module,
        arrays: list[np.ndarray],
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        """Fit a synthesizer's sampling model after non-private training (none by default).

        It may read the training data as it is, so it never runs under DP.
        """

    def _sequence_lengths(self, arrays: list[np.ndarray]) -> np.ndarray | None:
        """Lengths of the training sequences (training may group similar lengths into
        batches), or None when the records are rows."""
        return None

    def _latent_components(self) -> int:
        """Components of the latent mixture fitted after non-private training."""
        return self.latent_components

    def _data_attributes(self, state: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def _param_differs(a: Any, b: Any) -> bool:
    sequences = list | tuple | np.ndarray | pd.Index  # context_columns=df.columns[3:5]
    if isinstance(a, sequences) and isinstance(b, sequences):
        return list(a) != list(b)
    if isinstance(a, sequences) or isinstance(b, sequences):
        return True
    return a != b


def _difference(stored: list[Any], current: list[Any]) -> str:
    """The first way the data passed to fit differs from a generator file's."""
    stored_names = [entry[0] for entry in stored]
    current_names = [entry[0] for entry in current]
    if stored_names != current_names:
        lacking = [name for name in stored_names if name not in current_names]
        extra = [name for name in current_names if name not in stored_names]
        parts = [f"the data lacks {_head(lacking)}"] if lacking else []
        parts += [f"the file never saw {_head(extra)}"] if extra else []
        if not parts:  # the same names: a column that changed role (context, identifier)?
            roles = {entry[0]: entry[1:] for entry in stored}
            for entry in current:
                if roles[entry[0]] != entry[1:]:
                    return (
                        f"column {entry[0]} is {roles[entry[0]]} in the file but {entry[1:]} "
                        "in the data"
                    )
        return "other columns: " + ("; ".join(parts) or "the same ones in another order")
    for old, new in zip(stored, current, strict=True):
        if old != new:
            return f"column {old[0]} is {old[1:]} in the file but {new[1:]} in the data"
    return "other data"


def _head(names: list[Any]) -> str:
    return ", ".join(map(str, names[:8])) + (" ..." if len(names) > 8 else "")
