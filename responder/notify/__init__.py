"""Notification duties after a breach: regimes as data, clocks, drafts, decisions and the register.

A breach is also a legal event. This package knows the law (``regimes``, shaped by ``model``), counts
time the way the rules do (``deadlines``, ``calendars``), keeps the clocks and the breach register in
the run store's generic items (``clocks``, ``register``), proposes which regimes likely apply
(``decision``) and drafts the notices (``facts``, ``drafts``); ``workflow`` runs these for one run and
``settings`` reads the ``notify:`` section of config.yaml. Nothing here sends anything: drafts are for
people to review.

Store items (kind → key): ``notify.start`` → ``<run>#<event>``, ``notify.sent`` →
``<run>#<regime>#<milestone>``, ``notify.clock`` → ``<run>#<regime>#<milestone>``, ``notify.register`` →
``<run>``.

Importing this package imports nothing heavy: ``holidays`` and ``jinja2`` load only when used.
"""
