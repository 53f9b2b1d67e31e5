/* Optional enhancements; every page works without this file. No inline scripts (CSP script-src 'self'). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Upload progress: the <progress> inside the form that sent the request.
  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = e.target.closest && e.target.closest("form");
    var bar = form && form.querySelector("progress");
    if (bar && e.detail && e.detail.lengthComputable && e.detail.total) {
      bar.value = Math.round((e.detail.loaded / e.detail.total) * 100);
    }
  });

  // A refused upload comes back as the checklist fragment with a 4xx status: show it anyway.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status >= 400 && xhr.status < 500 && /data-fragment="checklist"/.test(xhr.responseText || "")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // Anything else that fails: say so instead of doing nothing.
  function failed(e) {
    var box = document.getElementById("alerts");
    if (!box) return;
    var status = e.detail && e.detail.xhr ? e.detail.xhr.status : 0;
    var div = document.createElement("div");
    div.className = "alert alert-error";
    div.setAttribute("role", "alert");
    div.textContent = status === 413 ? "上传的内容过大,请压缩后再上传。"
      : status ? "操作没有成功(错误代码 " + status + "),请刷新页面后重试。"
      : "网络连接失败,请检查网络后重试。";
    box.replaceChildren(div);
    box.scrollIntoView({ block: "start" });
  }
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);
})();
