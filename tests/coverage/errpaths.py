#!/usr/bin/env python3
"""
errpaths.py: which error paths of the public API did the tests reach?

Usage: errpaths.py [--list] [--others] [--helpers] [--strict]
                   [--build=DIR] HEADER INFO SRC.c...

HEADER is libshmstate/shmstate.h, INFO an lcov tracefile (DA lines: the
per-line execution counts gcov recorded), SRC the library's sources.

The rule (also in shmstate-reliability(7), Coverage):

  The public API is every function declared SHMS_EXPORT in HEADER. Only
  the body of each one's definition is read; an error that a static or
  shms__ helper detects counts at the API function's line that passes it
  on (the `if ((rc = helper(...)) < 0) return rc;'), not at the helper's.

  An error path is one statement of that body:
   1. `return E;' where E is an error expression: it starts with a unary
      minus (-EINVAL, -errno, -rc), is an SHMS_E* code, is a call of
      shms__fail(), shms__detail() or a file's *_fail() wrapper (they
      record the detail and return the code), or assigns one of these
      (`return seg->err = rc;' counts by what is assigned);
   2. `goto L;' where L is a failure label (fail*, err*, nomem, bad*);
   3. `return V;' or `goto L;' (any label) after a statement in the
      same block that assigns an error expression (to V, for return):
      `rc = -EBUSY; goto out;', `rc = shms__fail(...); cleanup(); return
      rc;';
   4. `return V;' or `goto L;' in the then-branch of an `if' (directly,
      or in its braces) whose condition tests V (for goto: any variable,
      V may be a member, `s.fd') for failure: `V < 0', `(V = call()) < 0'
      (or `!= 0', `<= 0') and, for return, also `V != 0', `V <= 0', `V';
   5. an error recorded without leaving at once: an expression statement
      `V = E;' or `shms__fail(...);' (E as in 1), or `V = W;' under an
      `if' testing W as in 4, that no exit follows in its block (errors
      collected while a loop goes on).
  A path is reached when gcov counted any line of its statement.

  ALLOWLIST below lists, with the reason, the few paths that cannot be
  reached through the API (each entry: function and a regular expression
  matched against the path's text, "condition => statement").

Prints `api_error_paths: N paths', `api_error_paths_reached: M paths',
`api_error_paths_allowlisted: K paths', `api_error_paths_unreached: U
paths' and each path neither reached nor allowlisted as `file:line
function  text'. Then, for information, the same count over every
other function of SRC (the helpers): `helper_error_paths: N paths',
`helper_error_paths_reached: M paths'; --helpers lists the unreached
ones. --list prints every path with its count (`-': no line
of it was instrumented); --build=DIR warns about a source edited after
DIR's object was compiled (its line counts may then be off); --others
prints every other exit (`return 0;' aside), to review the rule against;
--strict exits 1 when a path is unreached or a function has no
definition.
"""
import re
import sys

# (function, regular expression on "condition => statement", reason)
ALLOWLIST = [
    # shms__arena_format() fails only for a geometry shms_arena_create()
    # has already refused (size, max_size and alignment are checked and
    # rounded just before, data >= size is its own error) or for a
    # corrupt free-list head, impossible in metadata it has just zeroed.
    # The check stays: a later change to either side must not format a
    # broken arena silently.
    ('shms_arena_create', r'shms__arena_format',
     'internal contract: the geometry was validated just before'),
]

OTHERS = None       # --others: the exits not counted, to review the rule

FAIL_LABEL = re.compile(r'^(fail|err|nomem|bad)')


class Tok:
    __slots__ = ('s', 'line')

    def __init__(self, s, line):
        self.s = s
        self.line = line


TOKEN = re.compile(r'''
    (?P<ws>[ \t\r\f\v]+) | (?P<nl>\n) |
    (?P<com>/\*.*?\*/|//[^\n]*) |
    (?P<str>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*') |
    (?P<id>[A-Za-z_]\w*) | (?P<num>\.?\d(?:[\w.]|[eEpP][+-])*) |
    (?P<op>->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^!~<>=]=?|
          \.\.\.|[{}()\[\];,.?:#])
''', re.S | re.X)


def tokenize(text):
    toks, line, pos = [], 1, 0
    at_bol = True
    while pos < len(text):
        if at_bol:
            # Preprocessor lines (with continuations) are not code here.
            m = re.match(r'[ \t]*#(?:[^\n]*\\\n)*[^\n]*', text[pos:])
            if m:
                line += m.group(0).count('\n')
                pos += m.end()
                continue
        m = TOKEN.match(text, pos)
        if not m:
            raise SyntaxError('line %d: cannot tokenize %r' %
                              (line, text[pos:pos + 20]))
        kind, s = m.lastgroup, m.group(0)
        at_bol = False
        if kind == 'nl':
            line += 1
            at_bol = True
        elif kind == 'com':
            line += s.count('\n')
        elif kind != 'ws':
            toks.append(Tok(s, line))
        pos = m.end()
    return toks


def api_names(header):
    text = open(header).read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'^[ \t]*#(?:[^\n]*\\\n)*[^\n]*', '', text, flags=re.M)
    names = []
    for decl in re.findall(r'SHMS_EXPORT\b([^;{]*?)\(', text):
        names.append(re.findall(r'\w+', decl)[-1])
    return names


def skip_balanced(toks, i, open_, close):
    """toks[i] is open_; returns the index after its matching close."""
    depth = 0
    while i < len(toks):
        if toks[i].s == open_:
            depth += 1
        elif toks[i].s == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise SyntaxError('unbalanced %s' % open_)


class Stmt:
    def __init__(self, kind, toks, parent):
        self.kind = kind        # block if else-arm loop switch label exit expr
        self.toks = toks        # the statement's own tokens
        self.parent = parent
        self.children = []
        self.cond = None        # if: condition tokens
        self.arm = None         # child of an if: 'then' or 'else'

    @property
    def first(self):
        return self.toks[0].line

    @property
    def last(self):
        return self.toks[-1].line


def parse_stmt(toks, i, parent):
    """Parses one statement at toks[i]; returns (Stmt, next index)."""
    t = toks[i].s
    if t == '{':
        st = Stmt('block', None, parent)
        j = i + 1
        while toks[j].s != '}':
            c, j = parse_stmt(toks, j, st)
            st.children.append(c)
        st.toks = toks[i:j + 1]
        return st, j + 1
    if t == 'if':
        st = Stmt('if', None, parent)
        e = skip_balanced(toks, i + 1, '(', ')')
        st.cond = toks[i + 2:e - 1]
        c, j = parse_stmt(toks, e, st)
        c.arm = 'then'
        st.children.append(c)
        if j < len(toks) and toks[j].s == 'else':
            c, j = parse_stmt(toks, j + 1, st)
            c.arm = 'else'
            st.children.append(c)
        st.toks = toks[i:j]
        return st, j
    if t in ('for', 'while', 'switch'):
        st = Stmt('loop' if t != 'switch' else 'switch', None, parent)
        e = skip_balanced(toks, i + 1, '(', ')')
        c, j = parse_stmt(toks, e, st)
        st.children.append(c)
        st.toks = toks[i:j]
        return st, j
    if t == 'do':
        st = Stmt('loop', None, parent)
        c, j = parse_stmt(toks, i + 1, st)
        st.children.append(c)
        e = skip_balanced(toks, j + 1, '(', ')')     # while (...)
        st.toks = toks[i:e + 1]
        return st, e + 1
    if t in ('case', 'default') or (
            re.match(r'[A-Za-z_]\w*$', t) and toks[i + 1].s == ':' and
            t not in ('return', 'goto')):
        j = i
        while toks[j].s != ':':
            j += 1
        return Stmt('label', toks[i:j + 1], parent), j + 1
    # Expression, declaration, return, goto, break...: up to the ';' at
    # depth 0 (initializers may hold braces).
    j, depth = i, 0
    while True:
        s = toks[j].s
        if s in '({[':
            depth += 1
        elif s in ')}]':
            depth -= 1
        elif s == ';' and depth == 0:
            break
        j += 1
    kind = 'exit' if t in ('return', 'goto') else 'expr'
    return Stmt(kind, toks[i:j + 1], parent), j + 1


def text(toks):
    return ' '.join(t.s for t in toks)


def is_call_of(toks, pred):
    return len(toks) > 1 and pred(toks[0].s) and toks[1].s == '(' and \
        skip_balanced(toks, 1, '(', ')') == len(toks)


def is_fail_call(toks):
    """A call of shms__fail(), shms__detail() or a file's own *_fail()
    wrapper of it: they record the detail and return the code."""
    return is_call_of(toks, lambda f: f == 'shms__detail' or
                      f.endswith('_fail'))


def split_assign(toks):
    """`lhs = rhs' at depth 0: (lhs, rhs), else (None, toks)."""
    depth = 0
    for k, t in enumerate(toks):
        if t.s in '([{':
            depth += 1
        elif t.s in ')]}':
            depth -= 1
        elif t.s == '=' and depth == 0:
            return toks[:k], toks[k + 1:]
    return None, toks


def is_error_expr(toks):
    while toks and toks[0].s == '(' and \
            skip_balanced(toks, 0, '(', ')') == len(toks):
        toks = toks[1:-1]
    if not toks:
        return False
    lhs, rhs = split_assign(toks)
    if lhs is not None:
        return is_error_expr(rhs)
    if toks[0].s == '-' and len(toks) > 1:
        return True
    if toks[0].s.startswith('SHMS_E') and len(toks) == 1:
        return True
    return is_fail_call(toks)


def error_assignment(st):
    """`V = E;' with E an error expression, or a bare failure call;
    returns V's text ('' for the call), else None."""
    if st.kind != 'expr':
        return None
    body = st.toks[:-1]
    if is_fail_call(body):
        return ''
    lhs, rhs = split_assign(body)
    if lhs is not None and is_error_expr(rhs):
        return text(lhs)
    return None


VAR = r'[A-Za-z_]\w*(?: (?:->|\.) [A-Za-z_]\w*)*'


def cond_tests_failure(cond, var, for_return):
    """Does condition cond test variable var (None: any) for failure?"""
    c = text(cond)
    v = re.escape(var) if var else VAR
    pats = [r'(?:^|[(&|!] )%s < 0\b' % v,
            r'\( %s = [^=].* \) (?:< 0|!= 0|<= 0)\b' % v]
    if for_return:
        pats += [r'(?:^|[(&|] )%s (?:!= 0|<= 0)\b' % v, r'^%s$' % v]
    return any(re.search(p, c) for p in pats)


def classify(st):
    """Returns the path's text when exit/expr statement st is an error
    path, else None."""
    parent = st.parent
    sibs = parent.children if parent is not None else []
    k = sibs.index(st) if st in sibs else -1
    # The if whose then-branch st is, or is directly in a block of.
    node, cif = st, None
    if node.arm is None and parent is not None and parent.kind == 'block':
        node = parent
    if node.arm == 'then':
        cif = node.parent
    ctx = ('%s => ' % text(cif.cond)) if cif is not None else ''
    # Earlier statements of the same block that record an error.
    before = [error_assignment(p) for p in sibs[:k]] \
        if parent is not None and parent.kind == 'block' else []
    if st.kind == 'expr':
        lhs, rhs = split_assign(st.toks[:-1])
        passed = lhs is not None and re.match(VAR + '$', text(rhs)) and \
            cif is not None and cond_tests_failure(cif.cond, text(rhs), True)
        if error_assignment(st) is None and not passed:
            return None
        nxt = sibs[k + 1:] if parent.kind == 'block' else []
        if any(n.kind == 'exit' for n in nxt):
            return None
        return ctx + text(st.toks)
    body = st.toks[1:-1]
    if st.toks[0].s == 'return':
        if is_error_expr(body):
            return ctx + text(st.toks)
        lhs, rhs = split_assign(body)
        if not re.match(VAR + '$', text(rhs)):
            return None
        var = text(rhs)
        if var in before:
            return ctx + text(st.toks)
        if cif is not None and cond_tests_failure(cif.cond, var, True):
            return ctx + text(st.toks)
        return None
    label = body[0].s
    if FAIL_LABEL.match(label):
        return ctx + text(st.toks)
    if any(b is not None for b in before):
        return ctx + text(st.toks)
    if cif is not None and cond_tests_failure(cif.cond, None, False):
        return ctx + text(st.toks)
    return None


def walk(st):
    yield st
    for c in st.children:
        yield from walk(c)


def find_paths(want, sources):
    """The error paths of every function definition whose name want()
    accepts; returns them and the names found."""
    paths, found = [], set()
    for src in sources:
        toks = tokenize(open(src).read())
        i, depth = 0, 0
        while i < len(toks):
            s = toks[i].s
            if s == '{':
                depth += 1
            elif s == '}':
                depth -= 1
            elif depth == 0 and re.match(r'[A-Za-z_]\w*$', s) and \
                    want(s) and i + 1 < len(toks) and toks[i + 1].s == '(':
                e = skip_balanced(toks, i + 1, '(', ')')
                if e < len(toks) and toks[e].s == '{':
                    body, j = parse_stmt(toks, e, None)
                    found.add(s)
                    for st in walk(body):
                        if st.kind in ('exit', 'expr'):
                            why = classify(st)
                            if why is not None:
                                paths.append((src, st.first, st.last, s,
                                              why))
                            elif OTHERS is not None and \
                                    st.kind == 'exit' and \
                                    text(st.toks) != 'return 0 ;':
                                OTHERS.append('%s:%d %s  %s' % (
                                    src, st.first, s, text(st.toks)))
                    i = j
                    continue
            i += 1
    return paths, found


def read_counts(info):
    counts, cur = {}, None
    for line in open(info):
        if line.startswith('SF:'):
            cur = counts.setdefault(line[3:].strip(), {})
        elif line.startswith('DA:') and cur is not None:
            ln, n = line[3:].split(',')[:2]
            cur[int(ln)] = cur.get(int(ln), 0) + int(n)
    return counts


def main(argv):
    import os
    flags = [a for a in argv if a.startswith('--')]
    args = [a for a in argv if not a.startswith('--')]
    if len(args) < 3:
        sys.exit('\n'.join(__doc__.strip().split('\n')[2:4]))
    header, info, sources = args[0], args[1], args[2:]
    names = api_names(header)
    if '--others' in flags:
        global OTHERS
        OTHERS = []
    paths, found = find_paths(lambda f: f in names, sources)
    counts = read_counts(info)
    by_base = {}
    for f, c in counts.items():
        by_base.setdefault(os.path.realpath(f), c)
    build = [f.split('=', 1)[1] for f in flags if f.startswith('--build=')]
    for src in sources if build else []:
        gcno = os.path.join(build[0], os.path.splitext(src)[0] + '.gcno')
        if os.path.exists(gcno) and \
                os.path.getmtime(src) > os.path.getmtime(gcno):
            print('errpaths: %s changed since it was compiled: its counts '
                  'may be off by lines' % src)

    def count(src, first, last):
        c = by_base.get(os.path.realpath(src), {})
        return max([c[ln] for ln in range(first, last + 1) if ln in c],
                   default=None)

    reached = allowed = 0
    unreached, used = [], set()
    for src, first, last, fn, why in paths:
        n = count(src, first, last)
        allow = [k for k, (f, pat, _) in enumerate(ALLOWLIST)
                 if f == fn and re.search(pat, why)]
        used.update(allow)
        if '--list' in flags:
            print('%s:%d %s %s  %s' % (src, first, fn,
                  '-' if n is None else n, why))
        if n:
            reached += 1
            if allow:
                print('errpaths: allowlisted path reached: %s:%d %s' %
                      (src, first, fn))
        elif allow:
            allowed += 1
        else:
            unreached.append('%s:%d %s  %s' % (src, first, fn, why))
    print('api_functions: %d functions' % len(names))
    print('api_error_paths: %d paths' % len(paths))
    print('api_error_paths_reached: %d paths' % reached)
    print('api_error_paths_allowlisted: %d paths' % allowed)
    print('api_error_paths_unreached: %d paths' % len(unreached))
    for u in unreached:
        print(u)
    # The same rule over the library's other functions (helpers), for
    # information: not a target, since many are reached only through
    # corruption that the API's own paths already refuse.
    hpaths, _ = find_paths(lambda f: f not in names, sources)
    hreached = 0
    for src, first, last, fn, why in hpaths:
        n = count(src, first, last)
        hreached += 1 if n else 0
        if '--helpers' in flags and not n:
            print('helper: %s:%d %s  %s' % (src, first, fn, why))
    print('helper_error_paths: %d paths' % len(hpaths))
    print('helper_error_paths_reached: %d paths' % hreached)
    for k in sorted(set(range(len(ALLOWLIST))) - used):
        print('errpaths: allowlist entry matches nothing: %s %s' %
              ALLOWLIST[k][:2])
    for o in OTHERS or []:
        print('not an error path: ' + o)
    missing = sorted(set(names) - found)
    if missing:
        print('errpaths: no definition found for: %s' % ' '.join(missing))
    return 1 if '--strict' in flags and (unreached or missing) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
