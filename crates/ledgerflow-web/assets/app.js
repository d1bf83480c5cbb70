// LedgerFlow's small script: everything works without it; it adds "select all" for the bulk
// category change, asks before destructive forms and marks long forms as sent. (Inline scripts are blocked by the CSP.)
document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll('input[name="ids"]').forEach((c) => { c.checked = all.checked; });
    });
  }
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  });
  // A form that takes a while (an upload, an import) says so and cannot be sent twice.
  document.querySelectorAll("form[data-busy]").forEach((f) => {
    f.addEventListener("submit", (e) => {
      if (e.defaultPrevented) return;
      const b = f.querySelector('button[type="submit"]');
      if (!b) return;
      if (b.dataset.sent) { e.preventDefault(); return; }
      b.dataset.sent = "1";
      b.setAttribute("aria-disabled", "true");
      b.textContent = f.dataset.busy;
    });
  });
});
