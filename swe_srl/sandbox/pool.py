"""``SandboxPool``: run a function over items with at most ``max_workers`` at once.

Each worker thread typically starts one sandbox per item (``run_in_sandboxes``
does that for you), so at most ``max_workers`` containers exist at a time.
An exception raised for one item is returned (or re-raised) for that item
only; KeyboardInterrupt cancels the items not yet started.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

from swe_srl.errors import SweSrlError
from swe_srl.sandbox.spec import SandboxConfig

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class PoolResult(Generic[T, R]):
    index: int
    item: T
    value: R | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class SandboxPool:
    """Bounded concurrency for sandbox work."""

    def __init__(self, max_workers: int = 2):
        if max_workers < 1:
            raise SweSrlError(f"SandboxPool: max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers

    def imap(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[PoolResult[T, R]]:
        """Yield a :class:`PoolResult` per item as each finishes (submission is lazy: at most
        ``max_workers`` items are in flight)."""
        from swe_srl.sandbox import reaper

        reaper.install_handlers()  # from the caller's (main) thread: workers cannot install signal handlers
        it = iter(enumerate(items))
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="sandbox") as ex:
            pending: dict[Future, tuple[int, T]] = {}
            try:
                for _ in range(self.max_workers):
                    if not self._submit(ex, fn, it, pending):
                        break
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        idx, item = pending.pop(fut)
                        err = fut.exception()
                        yield PoolResult(idx, item, None if err else fut.result(), err)
                        self._submit(ex, fn, it, pending)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise

    @staticmethod
    def _submit(ex: ThreadPoolExecutor, fn: Callable, it: Iterator, pending: dict) -> bool:
        try:
            idx, item = next(it)
        except StopIteration:
            return False
        pending[ex.submit(fn, item)] = (idx, item)
        return True

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False) -> list[Any]:
        """Results in input order. An item's exception is re-raised (after all items ran) unless
        ``return_exceptions``, in which case it takes the item's place."""
        results = sorted(self.imap(fn, items), key=lambda r: r.index)
        if not return_exceptions:
            for r in results:
                if r.error is not None:
                    raise r.error
        return [r.error if r.error is not None else r.value for r in results]

    def run_in_sandboxes(self, items: Iterable[T], image_of: Callable[[T], str], fn: Callable[[Any, T], R], *,
                         config: SandboxConfig | None = None, run_id: str | None = None,
                         return_exceptions: bool = True) -> list[Any]:
        """Start a sandbox of ``image_of(item)`` per item, call ``fn(sandbox, item)``, close it."""
        from swe_srl.sandbox.docker_sandbox import DockerSandbox

        def one(item: T) -> R:
            with DockerSandbox.start(image_of(item), config, run_id=run_id) as sb:
                return fn(sb, item)

        return self.map(one, items, return_exceptions=return_exceptions)
