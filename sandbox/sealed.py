"""Objects the sandbox hands to a script that must never be taken apart by `copy`.

`copy.copy`, `copy.deepcopy` and pickling take an object apart through `__reduce_ex__`: the
pieces (its slots, its internal dicts, the print sink behind `print`) land in the memo and in
the reduce tuple, where a script could read or change them, and copy's reconstruction writes
the state it is given with an unguarded `setattr`. An injected object is therefore its own copy
and refuses to be reduced, so its internals never enter a memo or a reduce tuple.
"""

from __future__ import annotations

from typing import Any, NoReturn, Self


class Sealed:
    """Mixin: copies are the object itself; reduction (and so pickling) is refused."""

    __slots__ = ()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any) -> Any:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} object cannot be pickled or taken apart")

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} object cannot be pickled or taken apart")


class Final(Sealed):
    """Sealed, and a script can neither build one nor subclass it: only the sandbox makes them.

    Instances are made with `object.__new__(cls)` by the module that owns the class.
    """

    __slots__ = ()

    # Always raises. Typed `Self` rather than `NoReturn` so that a checker still treats the
    # class as a class, which `object.__new__(cls)` needs.
    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        raise TypeError(
            f"{cls.__name__} objects cannot be created in a script; they come from the sandbox "
            "(client results, imports). Use a dict or your own class instead"
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        sealed = [b for b in cls.__mro__[1:] if b is not Final and issubclass(b, Final)]
        if sealed:
            raise TypeError(
                f"cannot subclass {sealed[0].__name__}: it is a sandbox type; "
                "use a dict or your own class instead"
            )
        super().__init_subclass__(**kwargs)
