// The IOMMU-neutral pieces (bit helpers, the register file as data, the set-associative cache,
// access kinds and permissions) live in IOMMUCore; VTd's users see them through VTd as before.
@_exported import IOMMUCore
