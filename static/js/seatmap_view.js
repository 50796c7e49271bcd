/* The seat map's picture: seats shaped by kind and coloured by price tier, row and section labels, a tooltip,
   and zoom and pan (wheel, pinch, drag, buttons, keys). Booking logic, statuses and the live updates stay in
   seatmap.js; this module only draws and moves the view.

   A zoom or pan changes one transform, on the group that holds the whole drawing; the SVG's viewBox stays the
   whole map. Changing the viewBox made the browser lay out every drawn seat and label again on every frame,
   even for a pan; a group's translation does not (measured in bench/seatmap_render.py; decision 0020). Only
   the tiles of seats in view are drawn at all. The view shown, in map units, is in the SVG's data-view. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var CELL = 28;            // map units between seat centres
  var SEAT = 22;            // a seat's drawn size in map units
  var TARGET_PX = 24;       // WCAG 2.2 target size: a pointer picks a seat only when it is drawn this big
  var READABLE = 1.25;      // how far past the target size a tap zooms in, so seats are comfortably big
  var MAX_PX = 64;          // the largest a seat gets when zooming in
  var DRAG_PX = 6;          // a press that moves further than this pans instead of picking
  var TIER_COUNT = 8;       // colours in pages.css (.t0 … .t7)
  var CHUNK = 300;          // seats made per frame while tiles come into view
  var SHOW_SEATS_PX = 12;   // below this seats are specks: the map shows one block per section instead
  var TILE = 12;            // seats are grouped in tiles of TILE x TILE places, the unit left out of layout when off view

  var KIND_NAME = {
    standard: "Standard seat",
    accessible: "Wheelchair space",
    companion: "Companion seat",
    restricted_view: "Restricted view",
  };

  function make(tag, attrs) {
    var el = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (name) { el.setAttribute(name, attrs[name]); });
    return el;
  }

  /* The seat's outline says its kind (circle, square, diamond, triangle) so that no kind is told by colour. */
  function shapeFor(kind, cx, cy) {
    var h = SEAT / 2;
    if (kind === "accessible") {
      return make("rect", { x: cx - h, y: cy - h, width: SEAT, height: SEAT, rx: 3 });
    }
    if (kind === "companion") {
      var d = h + 2;
      return make("polygon", { points: [cx, cy - d, cx + d, cy, cx, cy + d, cx - d, cy].join(" ") });
    }
    if (kind === "restricted_view") {
      return make("polygon", { points: [cx, cy - h - 2, cx + h + 2, cy + h, cx - h - 2, cy + h].join(" ") });
    }
    return make("circle", { cx: cx, cy: cy, r: h });
  }

  function kindName(kind) { return KIND_NAME[kind] || KIND_NAME.standard; }

  /* ``options``: tiers (prices, dearest first), money (cents -> text), seatOf (element -> seat or undefined),
     paint (seat: set its status look), onPick (seat picked by pointer), onShown (the seats of the sections in
     view, after each move),
     onEnterSection (seats of a section opened from the overview by keyboard), controls (the zoom toolbar),
     tooltip (an element to fill and place), and optionally onDragOver (seat): a press that starts on a seat
     then calls it for each seat the pointer moves over instead of panning (the host's seat-map editor). */
  function SeatMapView(svg, options) {
    var full = { x: 0, y: 0, w: 1, h: 1 };
    var view = { cx: 0.5, cy: 0.5, scale: 1 };
    var maxScale = 8;
    var frame = 0;
    var pointers = new Map();
    var gesture = null;       // {x, y, moved} of a one-finger press, or {distance, scale} of a pinch
    var tip = options.tooltip;
    var tierOf = new Map(options.tiers.map(function (price, i) { return [price, "t" + (i % TIER_COUNT)]; }));
    var sections = [];        // {name, seats, box (map units), group (built lazily), built, overview}
    var shown = [];           // the sections in view
    var queue = [];           // tiles in view whose seats are not made yet
    var pumping = 0;          // the animation frame that builds the next slice

    function seatElement(seat) {
      var g = make("g", { role: "checkbox", tabindex: "-1" });
      g.dataset.seatId = seat.id;
      g.dataset.label = seat.label;
      var shape = shapeFor(seat.kind, seat.x * CELL + CELL / 2, seat.y * CELL + CELL / 2);
      shape.setAttribute("class", "shape");
      g.appendChild(shape);
      seat.el = g;
      return g;
    }

    /* A seat whose kind changed (the editor) gets the outline of its new kind. */
    function reshape(seat) {
      if (!seat.el) return;
      var shape = shapeFor(seat.kind, seat.x * CELL + CELL / 2, seat.y * CELL + CELL / 2);
      shape.setAttribute("class", "shape");
      seat.el.replaceChild(shape, seat.el.firstChild);
    }

    /* A status mark (tick, star, cross) is made only for the seats that show one: most seats have none. */
    function setMark(seat, d) {
      var mark = seat.el.lastChild.getAttribute("class") === "mark" ? seat.el.lastChild : null;
      if (!d) { if (mark) seat.el.removeChild(mark); return; }
      if (!mark) {
        mark = make("path", { class: "mark",
                              transform: "translate(" + (seat.x * CELL + CELL / 2 - 12) + " " + (seat.y * CELL + CELL / 2 - 12) + ")" });
        seat.el.appendChild(mark);
      }
      mark.setAttribute("d", d);
    }

    function rowLabels(items, group) {
      var rows = new Map();
      items.forEach(function (s) {
        var r = rows.get(s.row_label) || { label: s.row_label, y: s.y, min: s.x, max: s.x };
        r.min = Math.min(r.min, s.x); r.max = Math.max(r.max, s.x);
        rows.set(s.row_label, r);
      });
      rows.forEach(function (r) {
        var y = r.y * CELL + CELL / 2;
        [r.min * CELL - CELL / 2, (r.max + 1) * CELL + CELL / 2].forEach(function (x) {
          var t = make("text", { x: x, y: y, class: "row-label", "aria-hidden": "true" });
          t.textContent = r.label;
          group.appendChild(t);
        });
      });
    }

    /* A tile's seats get elements the first time it comes into view, a section's row letters the first time
       the section does: a 20,000-seat venue opens on its section overview without making 20,000 elements, and
       zooming in makes only the seats around the view. */
    function buildTile(t) {
      if (t.built) return 0;
      t.built = true;
      var fragment = document.createDocumentFragment();
      t.seats.forEach(function (seat) { fragment.appendChild(seatElement(seat)); });
      t.group.appendChild(fragment);
      t.seats.forEach(function (seat) { options.paint(seat); });
      return t.seats.length;
    }

    function labelSection(section) {
      if (section.labelled) return;
      section.labelled = true;
      rowLabels(section.seats, section.group);
    }

    /* While the view moves, tiles coming into view are built a few per frame, so that no frame waits for
       thousands of new elements. */
    function pump(budget) {
      pumping = 0;
      while (budget > 0 && queue.length) budget -= buildTile(queue.shift());
      if (queue.length) pumping = requestAnimationFrame(function () { pump(CHUNK); });
      options.onShown(shown.map(function (sec) {
        return sec.seats.filter(function (seat) { return seat.el && seat.tile.visible; });
      }));
    }

    /* A seat about to take focus is made and shown at once, even off view: a browser does not focus what it
       does not render. Taking focus then brings it into view (reveal), and the next frame culls again. */
    function elementFor(seat) {
      var section = sections.find(function (sec) { return sec.seats.indexOf(seat) >= 0; });
      buildTile(seat.tile);
      labelSection(section);
      setVisible(section, true);
      setVisible(seat.tile, true);
      return seat.el;
    }

    /* Written only when it changes: writing the same value still makes the browser restyle the group. */
    function setVisible(part, visible) {
      if (part.visible !== visible) part.group.setAttribute("display", visible ? "inline" : "none");
      part.visible = visible;
    }

    /* The section's seats in tiles, each a group of its own, so that only the tiles in view are laid out and
       painted when the view moves: zoomed in on a few rows, a frame costs those rows, not their sections. */
    function tile(section) {
      var tiles = new Map();
      section.seats.forEach(function (seat) {
        var tx = Math.floor(seat.x / TILE), ty = Math.floor(seat.y / TILE), key = tx + ":" + ty;
        if (!tiles.has(key)) {
          tiles.set(key, { group: make("g", {}), seats: [], built: false,
                           box: { minX: tx * TILE, maxX: tx * TILE + TILE - 1, minY: ty * TILE, maxY: ty * TILE + TILE - 1 } });
          section.group.appendChild(tiles.get(key).group);
        }
        seat.tile = tiles.get(key);
        seat.tile.seats.push(seat);
      });
      section.tiles = Array.from(tiles.values());
    }

    /* Each section: a group for its seats and an overview block (shown while seats are too small to see) that
       keyboard and pointer users open to zoom into it. */
    function addSection(name, items, layer) {
      var box = { minX: Infinity, maxX: -Infinity, minY: Infinity, maxY: -Infinity };
      items.forEach(function (s) {
        box.minX = Math.min(box.minX, s.x); box.maxX = Math.max(box.maxX, s.x);
        box.minY = Math.min(box.minY, s.y); box.maxY = Math.max(box.maxY, s.y);
      });
      var tier = tierOf.get(items[0].price_cents) || "t0";
      var section = { name: name, seats: items, box: box, group: make("g", { class: "section-seats" }) };
      var overview = make("g", { class: "section-overview s-available " + tier, role: "button", tabindex: "0",
        "aria-label": (name || "Seats") + ", " + options.money(items[0].price_cents) + ": zoom in to choose seats" });
      var rect = make("rect", { class: "shape", x: box.minX * CELL, y: box.minY * CELL, rx: CELL / 2,
        width: (box.maxX - box.minX + 1) * CELL, height: (box.maxY - box.minY + 1) * CELL });
      overview.appendChild(rect);
      overview.addEventListener("keydown", function (e) {
        if (e.key !== "Enter" && e.key !== " ") return;
        e.preventDefault();
        openSection(section);
      });
      section.overview = overview;
      tile(section);
      layer.seats.appendChild(section.group);
      layer.overview.appendChild(overview);
      if (name) {
        var t = make("text", { x: (box.minX + box.maxX + 1) * CELL / 2, y: box.minY * CELL - CELL / 3,
                                class: "section-label", "aria-hidden": "true" });
        t.textContent = name;
        layer.labels.appendChild(t);
      }
      sections.push(section);
    }

    function sectionCentre(section) {
      return { x: (section.box.minX + section.box.maxX + 1) * CELL / 2, y: (section.box.minY + section.box.maxY + 1) * CELL / 2 };
    }

    function openSection(section) {
      var c = sectionCentre(section);
      zoomToReadable(c.x, c.y);
      options.onEnterSection(section.seats);
    }

    /* Seats grouped by section, the overview blocks, the labels: one insertion; the view starts on the whole map. */
    function draw(items) {
      var minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
      var bySection = new Map();
      items.forEach(function (s) {
        minX = Math.min(minX, s.x); maxX = Math.max(maxX, s.x);
        minY = Math.min(minY, s.y); maxY = Math.max(maxY, s.y);
        s.tier = tierOf.get(s.price_cents) || "t0";
        if (!bySection.has(s.section)) bySection.set(s.section, []);
        bySection.get(s.section).push(s);
      });
      if (!items.length) { minX = maxX = minY = maxY = 0; }
      var layer = { seats: make("g", { class: "seats-layer" }), overview: make("g", { class: "overview-layer" }),
                    labels: make("g", { class: "map-labels", "aria-hidden": "true" }) };
      bySection.forEach(function (seatsOf, name) { addSection(name, seatsOf, layer); });
      viewport = make("g", { class: "map-viewport" });
      viewport.appendChild(layer.overview);
      viewport.appendChild(layer.seats);
      viewport.appendChild(layer.labels);
      svg.appendChild(viewport);
      // A cell and a half each side for the row letters, one cell on top for the first section's name.
      full = { x: (minX - 1.5) * CELL, y: (minY - 1) * CELL, w: (maxX - minX + 4) * CELL, h: (maxY - minY + 2) * CELL };
      view = { cx: full.x + full.w / 2, cy: full.y + full.h / 2, scale: 1 };
      svg.setAttribute("viewBox", [full.x, full.y, full.w, full.h].join(" "));
      svg.style.maxWidth = full.w * 1.4 + "px";
      svg.style.aspectRatio = full.w + " / " + full.h;
      fit = 0;
      maxScale = Math.max(1, MAX_PX / (SEAT * fitPixelsPerUnit()));
      apply();
      if (pumping) cancelAnimationFrame(pumping);
      pump(Infinity);  // the first view is complete when draw() returns
    }

    var viewport = null;      // the group of the whole drawing, which zoom and pan transform
    var fit = 0;              // screen pixels per map unit at scale 1, read from layout once (and on resize)
    var screenBox = null;     // the map's client rectangle, read once per scroll or resize

    /* A zoom or pan changes the drawing's transform only, never the map's box on the page: reading the box again in every
       wheel or pointer event would force a layout of every seat drawn after the previous frame's change. */
    function svgBox() {
      if (!screenBox) screenBox = svg.getBoundingClientRect();
      return screenBox;
    }

    function fitPixelsPerUnit() {
      if (!fit) {
        var box = svgBox();
        fit = Math.min(box.width / full.w, box.height / full.h) || 1;
      }
      return fit;
    }

    function seatPixels() { return SEAT * fitPixelsPerUnit() * view.scale; }

    function clamp() {
      view.scale = Math.min(Math.max(view.scale, 1), Math.max(maxScale, 1));
      var halfW = full.w / view.scale / 2, halfH = full.h / view.scale / 2;
      view.cx = Math.min(Math.max(view.cx, full.x + halfW), full.x + full.w - halfW);
      view.cy = Math.min(Math.max(view.cy, full.y + halfH), full.y + full.h - halfH);
    }

    function apply() {
      frame = 0;
      clamp();
      var w = full.w / view.scale, h = full.h / view.scale;
      // The view's centre goes to the whole map's centre, scaled about it: what a viewBox of the view would show.
      var dx = full.x + full.w / 2 - view.cx * view.scale, dy = full.y + full.h / 2 - view.cy * view.scale;
      viewport.setAttribute("transform", "translate(" + dx + " " + dy + ") scale(" + view.scale + ")");
      svg.dataset.view = [view.cx - w / 2, view.cy - h / 2, w, h].join(" ");
      svg.dataset.scale = view.scale.toFixed(3);
      svg.classList.toggle("zoomed", view.scale > 1.001);
      svg.classList.toggle("pickable", seatPixels() >= TARGET_PX);
      var overview = seatPixels() < SHOW_SEATS_PX;
      svg.classList.toggle("overview", overview);
      if (!overview) {
        // Sections out of view are left out of layout and paint: a frame costs the seats on screen, not all.
        shown = sections.filter(inView);
        sections.forEach(function (section) {
          var visible = shown.indexOf(section) >= 0;
          setVisible(section, visible);
          if (!visible) return;
          labelSection(section);
          section.tiles.forEach(function (t) {
            setVisible(t, inView(t));
            if (t.visible && !t.built && queue.indexOf(t) < 0) queue.push(t);
          });
        });
        if (!pumping) pumping = requestAnimationFrame(function () { pump(CHUNK); });
      }
      if (options.controls) {
        options.controls.querySelector('[data-zoom="in"]').disabled = view.scale >= maxScale - 0.001;
        options.controls.querySelector('[data-zoom="out"]').disabled = view.scale <= 1.001;
        options.controls.querySelector('[data-zoom="fit"]').disabled = view.scale <= 1.001;
      }
      hideTip();
    }

    /* Whether a section or a tile (anything with a box in seat places) overlaps the view. */
    function inView(part) {
      var w = full.w / view.scale, h = full.h / view.scale;
      return (part.box.maxX + 1) * CELL >= view.cx - w / 2 && part.box.minX * CELL <= view.cx + w / 2 &&
             (part.box.maxY + 1) * CELL >= view.cy - h / 2 && part.box.minY * CELL <= view.cy + h / 2;
    }

    /* Redraw at most once a frame however many wheel or pointer events arrive. */
    function schedule() { if (!frame) frame = requestAnimationFrame(apply); }

    /* The map point under a client (screen) position. */
    function toMap(clientX, clientY) {
      var box = svgBox();
      var ppu = fitPixelsPerUnit() * view.scale;
      var w = full.w / view.scale, h = full.h / view.scale;
      var left = box.left + (box.width - w * ppu) / 2, top = box.top + (box.height - h * ppu) / 2;
      return { x: view.cx - w / 2 + (clientX - left) / ppu, y: view.cy - h / 2 + (clientY - top) / ppu };
    }

    /* Zoom by ``factor`` keeping the map point under (clientX, clientY) where it is, or the centre. */
    function zoomBy(factor, clientX, clientY) {
      var before = clientX === undefined ? null : toMap(clientX, clientY);
      var oldScale = view.scale;
      view.scale = Math.min(Math.max(view.scale * factor, 1), maxScale);
      if (before) {
        var ratio = oldScale / view.scale;
        view.cx = before.x + (view.cx - before.x) * ratio;
        view.cy = before.y + (view.cy - before.y) * ratio;
      }
      schedule();
    }

    function panBy(dxPixels, dyPixels) {
      var ppu = fitPixelsPerUnit() * view.scale;
      view.cx += dxPixels / ppu;
      view.cy += dyPixels / ppu;
      schedule();
    }

    function readableScale() { return (TARGET_PX * READABLE) / (SEAT * fitPixelsPerUnit()); }

    /* Centre on a map point, zoomed in far enough for seats to be picked by touch. */
    function zoomToReadable(x, y) {
      view.scale = Math.max(view.scale, Math.min(readableScale(), maxScale));
      view.cx = x; view.cy = y;
      apply();
    }

    /* Keep a keyboard-focused seat in view, and big enough to see its focus ring. */
    function reveal(seat) {
      var x = seat.x * CELL + CELL / 2, y = seat.y * CELL + CELL / 2;
      if (seatPixels() < TARGET_PX) return zoomToReadable(x, y);
      var w = full.w / view.scale, h = full.h / view.scale;
      if (Math.abs(x - view.cx) > w / 2 - CELL || Math.abs(y - view.cy) > h / 2 - CELL) {
        view.cx = x; view.cy = y;
        apply();
      }
    }

    function showTip(el) {
      var seat = options.seatOf(el);
      if (!seat || !tip) return;
      tip.textContent = "";
      [seat.section, "Row " + seat.row_label + ", seat " + seat.number, options.money(seat.price_cents),
       kindName(seat.kind)].forEach(function (line, i) {
        var span = document.createElement(i === 0 ? "strong" : "span");
        span.textContent = line;
        tip.appendChild(span);
      });
      tip.hidden = false;
      var box = el.getBoundingClientRect(), host = tip.offsetParent.getBoundingClientRect();
      tip.style.left = box.left + box.width / 2 - host.left + "px";
      tip.style.top = box.top - host.top + "px";
    }

    function hideTip() { if (tip) tip.hidden = true; }

    svg.addEventListener("mouseover", function (e) {
      var el = e.target.closest("[data-seat-id]");
      if (el) showTip(el); else hideTip();
    });
    svg.addEventListener("mouseleave", hideTip);
    svg.addEventListener("focusin", function (e) {
      var el = e.target.closest("[data-seat-id]");
      if (!el) return;
      var seat = options.seatOf(el);
      if (seat && e.target.matches(":focus-visible")) reveal(seat);
      showTip(el);
    });
    svg.addEventListener("focusout", hideTip);

    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      zoomBy(Math.exp(-e.deltaY * 0.0015), e.clientX, e.clientY);
    }, { passive: false });

    svg.addEventListener("pointerdown", function (e) {
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size === 1) gesture = { x: e.clientX, y: e.clientY, moved: false, marking: markingFrom(e) };
      if (pointers.size === 2) {
        var p = Array.from(pointers.values());
        gesture = { distance: Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) || 1, scale: view.scale, moved: true };
      }
    });
    svg.addEventListener("pointermove", function (e) {
      var last = pointers.get(e.pointerId);
      if (!last || !gesture) return;
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size === 2 && gesture.distance) {
        var p = Array.from(pointers.values());
        var mid = { x: (p[0].x + p[1].x) / 2, y: (p[0].y + p[1].y) / 2 };
        var target = gesture.scale * Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) / gesture.distance;
        zoomBy(target / view.scale, mid.x, mid.y);
        return;
      }
      if (!gesture.moved && Math.hypot(e.clientX - gesture.x, e.clientY - gesture.y) < DRAG_PX) return;
      if (gesture.marking) {
        if (!gesture.moved) options.onDragOver(gesture.marking);
        gesture.moved = true;
        var under = document.elementFromPoint(e.clientX, e.clientY);
        var seat = under && under.closest("[data-seat-id]") && options.seatOf(under.closest("[data-seat-id]"));
        if (seat) options.onDragOver(seat);
        return;
      }
      if (!gesture.moved) svg.setPointerCapture(e.pointerId);
      gesture.moved = true;
      panBy(last.x - e.clientX, last.y - e.clientY);
    });
    /* The seat a press starts on, when presses on seats mark them (options.onDragOver) and seats can be aimed at. */
    function markingFrom(e) {
      if (!options.onDragOver || seatPixels() < TARGET_PX) return null;
      var el = e.target.closest && e.target.closest("[data-seat-id]");
      return (el && options.seatOf(el)) || null;
    }

    function endPointer(e) {
      pointers.delete(e.pointerId);
      if (pointers.size === 0 && gesture && !gesture.moved) gesture = null;
    }
    svg.addEventListener("pointerup", endPointer);
    svg.addEventListener("pointercancel", function (e) { endPointer(e); gesture = null; });

    /* A click picks a seat only when seats are big enough to aim at; otherwise it zooms in where it landed. */
    svg.addEventListener("click", function (e) {
      if (gesture && gesture.moved) { gesture = null; return; }
      gesture = null;
      var point = toMap(e.clientX, e.clientY);
      if (seatPixels() < TARGET_PX) return zoomToReadable(point.x, point.y);
      var el = e.target.closest("[data-seat-id]");
      var seat = el && options.seatOf(el);
      if (seat) options.onPick(seat);
    });

    svg.addEventListener("keydown", function (e) {
      var PAN = 80;
      if (e.key === "+" || e.key === "=") zoomBy(1.5);
      else if (e.key === "-" || e.key === "_") zoomBy(1 / 1.5);
      else if (e.key === "0") { view.scale = 1; schedule(); }
      else if (e.shiftKey && e.key === "ArrowLeft") panBy(-PAN, 0);
      else if (e.shiftKey && e.key === "ArrowRight") panBy(PAN, 0);
      else if (e.shiftKey && e.key === "ArrowUp") panBy(0, -PAN);
      else if (e.shiftKey && e.key === "ArrowDown") panBy(0, PAN);
      else return;
      e.preventDefault();
    });

    if (options.controls) {
      options.controls.addEventListener("click", function (e) {
        var button = e.target.closest("[data-zoom]");
        if (!button) return;
        if (button.dataset.zoom === "in") zoomBy(1.5);
        else if (button.dataset.zoom === "out") zoomBy(1 / 1.5);
        else { view.scale = 1; schedule(); }
      });
    }
    // Whatever moved the page since (a banner shown above the map), a new gesture starts from a fresh box.
    function forgetBox() { screenBox = null; }
    svg.addEventListener("pointerenter", forgetBox);
    svg.addEventListener("pointerdown", forgetBox, true);
    window.addEventListener("scroll", forgetBox, { capture: true, passive: true });
    window.addEventListener("resize", function () {
      fit = 0;
      forgetBox();
      maxScale = Math.max(1, MAX_PX / (SEAT * fitPixelsPerUnit()));
      schedule();
    });

    return { draw: draw, reveal: reveal, setMark: setMark, elementFor: elementFor, reshape: reshape };
  }

  /* Seats grouped by map row (y), each row sorted by x: what arrow keys move through. */
  function rowsOf(items) {
    var byY = new Map();
    items.forEach(function (s) {
      if (!byY.has(s.y)) byY.set(s.y, []);
      byY.get(s.y).push(s);
    });
    return Array.from(byY.keys()).sort(function (a, b) { return a - b; }).map(function (y) {
      return byY.get(y).sort(function (a, b) { return a.x - b.x; });
    });
  }

  /* The seat an arrow key, Home or End moves to from ``seat``: along its row, or the nearest in the next row. */
  function neighbour(rows, seat, key) {
    var rowIndex = rows.findIndex(function (r) { return r[0].y === seat.y; });
    var row = rows[rowIndex];
    var i = row.indexOf(seat);
    if (key === "ArrowLeft") return row[i - 1];
    if (key === "ArrowRight") return row[i + 1];
    if (key === "Home") return row[0];
    if (key === "End") return row[row.length - 1];
    var target = rows[rowIndex + (key === "ArrowUp" ? -1 : 1)];
    if (!target) return null;
    return target.reduce(function (best, s) {
      return Math.abs(s.x - seat.x) < Math.abs(best.x - seat.x) ? s : best;
    });
  }

  SeatMapView.rowsOf = rowsOf;
  SeatMapView.neighbour = neighbour;
  SeatMapView.kindName = kindName;
  window.AtomicSeats.SeatMapView = SeatMapView;
})();
