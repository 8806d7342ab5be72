"""「跳到正文」: a skip link, the first thing a keyboard user reaches on every page, jumping past
the header's crumbs and menu to the page's content.

Core's base.html has no skip link and no block before its header; every page template extends
base.html, so rather than override it (and fork core's page frame) a few lines of script insert
the link at the top of <body> and make core's <section class="content"> its target.
"""

from datasette import hookimpl

SCRIPT = """
(function () {
  var main = document.querySelector("section.content");
  if (!main || document.querySelector("a.skip-link")) return;
  if (!main.id) main.id = "main";
  main.setAttribute("tabindex", "-1");   /* focusable by the link, not by Tab */
  var link = document.createElement("a");
  link.className = "skip-link";
  link.href = "#" + main.id;
  link.textContent = "跳到正文";
  link.addEventListener("click", function (ev) { ev.preventDefault(); main.focus(); });
  document.body.insertBefore(link, document.body.firstChild);
})();
"""


@hookimpl
def extra_body_script():
    return SCRIPT
