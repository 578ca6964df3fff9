#!/usr/bin/env python3
"""Finds literal `[Name]` (an intra-doc link that did not resolve) in this crate's own docs."""
import re, sys, pathlib
from html.parser import HTMLParser

# Sections whose text is other crates' docs: methods through Deref, impls of foreign traits.
FOREIGN = re.compile(r'deref-methods|trait-implementations-list|synthetic-implementations-list|blanket-implementations-list')
VOID = {'br', 'img', 'input', 'meta', 'link', 'hr', 'wbr', 'source'}

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.found = [], []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        attrs = dict(attrs)
        skip = tag in ('code', 'pre', 'script', 'style', 'a') or 'code-header' in (attrs.get('class') or '') \
            or bool(FOREIGN.search(attrs.get('id') or ''))
        self.stack.append((tag, skip))

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        if not any(skip for _, skip in self.stack):
            self.found += re.findall(r'\[`?[A-Za-z_][A-Za-z0-9_:]*`?\]', data)

bad = 0
for page in sorted(pathlib.Path(sys.argv[1]).rglob('*.html')):
    if '/src/' in str(page) or page.name in ('all.html', 'search.html', 'settings.html', 'help.html'):
        continue
    parser = Page()
    parser.feed(page.read_text())
    for text in parser.found:
        print(f"{page}: literal {text}")
        bad = 1
sys.exit(bad)
