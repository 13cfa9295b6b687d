/// One box of a walk diagram: a structure read, a failed read or the outcome.
struct StepBox {
    var title: String
    var lines: [String]
    /// Drawn in red: the failing step, or a fault/abort outcome.
    var failed: Bool
    /// Drawn in purple: a step in Secure PA space (SMMUv3).
    var secure = false
}

/// The SVG diagram both walk renderers draw: a title line, then the boxes top to bottom joined
/// by arrows; the last box (the outcome) is green unless it failed.
enum StepChart {
    /// - Parameter boxWidth: the narrowest box; boxes widen to their longest line (monospace at
    ///   12 px: about 7.5 px per character, plus the 10 px inset on each side).
    static func svg(title: String, boxes: [StepBox], boxWidth minimumBoxWidth: Int, widenForTitle: Bool) -> String {
        let lineHeight = 16, gap = 28, margin = 20
        let longestLine = boxes.map { box in max(box.title.count, box.lines.map(\.count).max() ?? 0) }.max() ?? 0
        let boxWidth = max(minimumBoxWidth, longestLine * 15 / 2 + 20)
        var y = margin + 30
        var body: [String] = []
        for (i, box) in boxes.enumerated() {
            let height = 26 + lineHeight * box.lines.count
            let stroke = box.failed ? "#c0392b" : (box.secure ? "#7d3c98" : "#34495e")
            let fill = box.failed ? "#fdecea" : (i == boxes.count - 1 ? "#eafaf1" : (box.secure ? "#f5eef8" : "#f4f6f7"))
            body.append("<g class=\"step\" id=\"step\(i)\">")
            body.append("<rect x=\"\(margin)\" y=\"\(y)\" width=\"\(boxWidth)\" height=\"\(height)\" rx=\"6\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"2\"/>")
            body.append("<text x=\"\(margin + 10)\" y=\"\(y + 18)\" font-weight=\"bold\" fill=\"\(stroke)\">\(TraceRendering.escape(box.title))</text>")
            for (j, line) in box.lines.enumerated() {
                body.append("<text x=\"\(margin + 10)\" y=\"\(y + 18 + lineHeight * (j + 1))\">\(TraceRendering.escape(line))</text>")
            }
            body.append("</g>")
            y += height
            if i < boxes.count - 1 {
                body.append("<line x1=\"\(margin + boxWidth / 2)\" y1=\"\(y)\" x2=\"\(margin + boxWidth / 2)\" y2=\"\(y + gap - 4)\" stroke=\"#7f8c8d\" stroke-width=\"2\" marker-end=\"url(#arrow)\"/>")
                y += gap
            }
        }
        let height = y + margin
        // Monospace at 12 px: about 7.3 px per character.
        let width = widenForTitle ? max(boxWidth + 2 * margin, title.count * 15 / 2 + 2 * margin) : boxWidth + 2 * margin
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="monospace" font-size="12">
        <defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="4" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#7f8c8d"/></marker></defs>
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(margin)" y="\(margin + 8)" font-weight="bold">\(TraceRendering.escape(title))</text>
        \(body.joined(separator: "\n"))
        </svg>
        """
    }
}
