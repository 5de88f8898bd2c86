"""Turns a checked jinja2 syntax tree into a tree of Python closures, evaluated without a jinja2 Context.

Why: jinja2 builds a fresh `Context` for every call of a compiled expression or template render;
at ~36 conditions and a dozen messages per domain that set-up cost more than the rules themselves.
The rule language stays jinja2's (the same parser, the same syntax tree, the same filters, tests and
sandboxed attribute access); only the evaluation of the common subset is done here, node for node
as jinja2's code generator would write it for this environment (`autoescape=False`,
`StrictUndefined`, no finalize, no intercepted operators):

- names from the namespace, then the helpers; a missing one is `StrictUndefined`;
- `a.b` and `a['b']` through the sandbox's own `getattr`/`getitem`, except for the frozen fact
  dataclasses of `auditor`, whose public fields and properties are read directly (what the sandbox
  would return for them anyway; private names never get this far: they are refused at load);
- comparisons (chained as in Python), `and`/`or`/`not`, `+ - * / // %`, unary `-`/`+`, `~`,
  inline `if ... else ...`, tuples and lists;
- filters and tests from the environment, called with the environment/eval context/context they
  ask for (jinja2's built-in filters only use the context's environment, never its variables);
- calls of the helper functions only;
- in templates: text, `{{ ... }}` output through `str()`, and `{% if %}/{% elif %}/{% else %}`.

Anything else returns None from `build_*` and the caller keeps jinja2's own compiled code, so a
rule file using another construct still works exactly as before, only slower.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

Namespace = Mapping[str, Any]
Evaluate = Callable[[Namespace], Any]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
_BINARY: dict[type[nodes.BinExpr], Callable[[Any, Any], Any]] = {
    nodes.Add: operator.add,
    nodes.Sub: operator.sub,
    nodes.Mul: operator.mul,
    nodes.Div: operator.truediv,
    nodes.FloorDiv: operator.floordiv,
    nodes.Mod: operator.mod,
}
_UNARY: dict[type[nodes.UnaryExpr], Callable[[Any], Any]] = {
    nodes.Neg: operator.neg,
    nodes.Pos: operator.pos,
}


class Unsupported(Exception):
    """A node this compiler does not evaluate; the caller falls back to jinja2's compiled code."""


class ClosureCompiler:
    """Builds closures for one sandboxed environment and its helper functions."""

    def __init__(self, environment: SandboxedEnvironment, helpers: Mapping[str, Callable[..., Any]]) -> None:
        self.environment = environment
        self.helpers = dict(helpers)
        # One context for the filters that ask for one (select, map, ...): they only read its
        # environment and eval context, both fixed for the run. Never given the rule's variables.
        self._filter_context = environment.from_string("").new_context({})
        self._plain_types: dict[type, bool] = {}

    # ----------------------------------------------------------------------------- entry points

    def build_expression(self, expression: nodes.Expr) -> Evaluate | None:
        """An evaluator for a parsed expression; None if it uses an unsupported construct."""
        try:
            return self._expr(expression)
        except Unsupported:
            return None

    def build_template(self, tree: nodes.Template) -> Callable[[Namespace], str] | None:
        """A render function for a parsed template; None if it uses an unsupported construct."""
        try:
            parts = self._statements(tree.body)
        except Unsupported:
            return None
        if len(parts) == 1 and isinstance(parts[0], str):
            text = parts[0]
            return lambda ns: text
        return self._join(parts)

    # ----------------------------------------------------------------------------- templates

    def _statements(self, body: list[nodes.Node]) -> list[str | Callable[[Namespace, list[str]], None]]:
        """Constant text, or writers that append their output to a list."""
        parts: list[str | Callable[[Namespace, list[str]], None]] = []
        for node in body:
            if isinstance(node, nodes.Output):
                for child in node.nodes:
                    if isinstance(child, nodes.TemplateData):
                        parts.append(child.data)
                    else:
                        parts.append(self._output(self._expr(child)))
            elif isinstance(node, nodes.If):
                parts.append(self._if(node))
            else:
                raise Unsupported(type(node).__name__)
        return parts

    @staticmethod
    def _output(value: Evaluate) -> Callable[[Namespace, list[str]], None]:
        def write(ns: Namespace, out: list[str]) -> None:
            out.append(str(value(ns)))

        return write

    def _if(self, node: nodes.If) -> Callable[[Namespace, list[str]], None]:
        branches = [(self._expr(node.test), self._writer(node.body))]
        branches += [(self._expr(e.test), self._writer(e.body)) for e in node.elif_]
        otherwise = self._writer(node.else_) if node.else_ else None

        def write(ns: Namespace, out: list[str]) -> None:
            for test, body in branches:
                if test(ns):
                    body(ns, out)
                    return
            if otherwise is not None:
                otherwise(ns, out)

        return write

    def _writer(self, body: list[nodes.Node]) -> Callable[[Namespace, list[str]], None]:
        return self._writer_from(self._statements(body))

    def _join(self, parts: list[str | Callable[[Namespace, list[str]], None]]) -> Callable[[Namespace], str]:
        write = self._writer_from(parts)

        def render(ns: Namespace) -> str:
            out: list[str] = []
            write(ns, out)
            return "".join(out)

        return render

    @staticmethod
    def _writer_from(
        parts: list[str | Callable[[Namespace, list[str]], None]],
    ) -> Callable[[Namespace, list[str]], None]:
        def write(ns: Namespace, out: list[str]) -> None:
            for part in parts:
                if isinstance(part, str):
                    out.append(part)
                else:
                    part(ns, out)

        return write

    # ----------------------------------------------------------------------------- expressions

    def _expr(self, node: nodes.Node) -> Evaluate:
        method = getattr(self, f"_n_{type(node).__name__}", None)
        if method is None:
            raise Unsupported(type(node).__name__)
        result: Evaluate = method(node)
        return result

    def _n_Const(self, node: nodes.Const) -> Evaluate:
        value = node.value
        return lambda ns: value

    def _n_Name(self, node: nodes.Name) -> Evaluate:
        if node.ctx != "load":
            raise Unsupported("assignment")
        name = node.name
        undefined = self.environment.undefined
        helper = self.helpers.get(name)
        if helper is not None:
            return lambda ns: ns.get(name, helper)

        def load(ns: Namespace) -> Any:
            try:
                return ns[name]
            except KeyError:
                return undefined(name=name)

        return load

    def _n_Getattr(self, node: nodes.Getattr) -> Evaluate:
        base = self._expr(node.node)
        attr = node.attr
        sandboxed = self.environment.getattr
        plain = self._plain_types

        def get(ns: Namespace) -> Any:
            obj = base(ns)
            kind = type(obj)
            direct = plain.get(kind)
            if direct is None:
                direct = plain[kind] = _is_fact_dataclass(kind)
            if direct:
                try:
                    return getattr(obj, attr)
                except AttributeError:
                    pass
            return sandboxed(obj, attr)

        return get

    def _n_Getitem(self, node: nodes.Getitem) -> Evaluate:
        if isinstance(node.arg, nodes.Slice):
            raise Unsupported("slice")
        base = self._expr(node.node)
        key = self._expr(node.arg)
        getitem = self.environment.getitem
        return lambda ns: getitem(base(ns), key(ns))

    def _n_Tuple(self, node: nodes.Tuple) -> Evaluate:
        if node.ctx != "load":
            raise Unsupported("assignment")
        items = [self._expr(i) for i in node.items]
        return lambda ns: tuple(i(ns) for i in items)

    def _n_List(self, node: nodes.List) -> Evaluate:
        items = [self._expr(i) for i in node.items]
        return lambda ns: [i(ns) for i in items]

    def _n_Compare(self, node: nodes.Compare) -> Evaluate:
        first = self._expr(node.expr)
        ops = [(_COMPARE[o.op], self._expr(o.expr)) for o in node.ops]
        if len(ops) == 1:
            ((compare, right),) = ops
            return lambda ns: compare(first(ns), right(ns))

        def chained(ns: Namespace) -> Any:
            # Python's `a < b < c`: `a < b and b < c`, each operand evaluated once.
            left = first(ns)
            result: Any = True
            for compare, right_expr in ops:
                right = right_expr(ns)
                result = compare(left, right)
                if not result:
                    return result
                left = right
            return result

        return chained

    def _n_And(self, node: nodes.And) -> Evaluate:
        left, right = self._expr(node.left), self._expr(node.right)
        return lambda ns: left(ns) and right(ns)

    def _n_Or(self, node: nodes.Or) -> Evaluate:
        left, right = self._expr(node.left), self._expr(node.right)
        return lambda ns: left(ns) or right(ns)

    def _n_Not(self, node: nodes.Not) -> Evaluate:
        value = self._expr(node.node)
        return lambda ns: not value(ns)

    def _binary(self, node: nodes.BinExpr) -> Evaluate:
        apply = _BINARY[type(node)]
        left, right = self._expr(node.left), self._expr(node.right)
        return lambda ns: apply(left(ns), right(ns))

    _n_Add = _n_Sub = _n_Mul = _n_Div = _n_FloorDiv = _n_Mod = _binary

    def _unary(self, node: nodes.UnaryExpr) -> Evaluate:
        apply = _UNARY[type(node)]
        value = self._expr(node.node)
        return lambda ns: apply(value(ns))

    _n_Neg = _n_Pos = _unary

    def _n_Concat(self, node: nodes.Concat) -> Evaluate:
        parts = [self._expr(n) for n in node.nodes]
        # jinja2's str_join: every operand is evaluated before any is converted to text.
        return lambda ns: "".join(map(str, [p(ns) for p in parts]))

    def _n_CondExpr(self, node: nodes.CondExpr) -> Evaluate:
        if node.expr2 is None:
            raise Unsupported("inline if without else")
        test, yes, no = self._expr(node.test), self._expr(node.expr1), self._expr(node.expr2)
        return lambda ns: yes(ns) if test(ns) else no(ns)

    def _n_Filter(self, node: nodes.Filter) -> Evaluate:
        if node.node is None:
            raise Unsupported("filter block")
        func = self.environment.filters.get(node.name)
        return self._call_with_value(func, self._expr(node.node), node)

    def _n_Test(self, node: nodes.Test) -> Evaluate:
        func = self.environment.tests.get(node.name)
        return self._call_with_value(func, self._expr(node.node), node)

    def _call_with_value(self, func: Any, value: Evaluate, node: nodes.Filter | nodes.Test) -> Evaluate:
        if func is None:
            raise Unsupported(f"unknown filter or test {node.name!r}")
        args, kwargs = self._arguments(node)
        pass_arg = getattr(getattr(func, "jinja_pass_arg", None), "name", None)
        first: tuple[Any, ...] = ()
        if pass_arg == "context":
            first = (self._filter_context,)
        elif pass_arg == "eval_context":
            first = (self._filter_context.eval_ctx,)
        elif pass_arg == "environment":
            first = (self.environment,)
        elif pass_arg is not None:
            raise Unsupported(f"pass argument {pass_arg}")
        if not args and not kwargs:
            if first:
                (extra,) = first
                return lambda ns: func(extra, value(ns))
            return lambda ns: func(value(ns))

        def call(ns: Namespace) -> Any:
            return func(*first, value(ns), *[a(ns) for a in args], **{k: v(ns) for k, v in kwargs.items()})

        return call

    def _n_Call(self, node: nodes.Call) -> Evaluate:
        if not isinstance(node.node, nodes.Name) or node.node.name not in self.helpers:
            raise Unsupported("call of something other than a helper")
        func = self.helpers[node.node.name]
        args, kwargs = self._arguments(node)
        undefined = self.environment.undefined

        def call(ns: Namespace) -> Any:
            try:
                return func(*[a(ns) for a in args], **{k: v(ns) for k, v in kwargs.items()})
            except StopIteration:  # what jinja2's Context.call does
                return undefined("value was undefined because a callable raised a StopIteration exception")

        return call

    def _arguments(
        self, node: nodes.Filter | nodes.Test | nodes.Call
    ) -> tuple[list[Evaluate], dict[str, Evaluate]]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise Unsupported("*args or **kwargs")
        args = [self._expr(a) for a in node.args]
        kwargs = {k.key: self._expr(k.value) for k in node.kwargs}
        return args, kwargs


def _is_fact_dataclass(kind: type) -> bool:
    """Frozen dataclasses of this package: facts and views whose public attributes are plain data."""
    if not dataclasses.is_dataclass(kind) or not kind.__module__.startswith("auditor."):
        return False
    params = getattr(kind, "__dataclass_params__", None)
    return bool(params is not None and params.frozen)
