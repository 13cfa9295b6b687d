import Testing
@testable import SMMUv3

@Suite struct GranuleTests {
    /// Arm ARM D8.2: the level shifts of each granule (4K: 39/30/21/12; 16K: 47/36/25/14; 64K: 55/42/29/16).
    @Test(arguments: [
        (TranslationGranule.size4KB, [39, 30, 21, 12]),
        (.size16KB, [47, 36, 25, 14]),
        (.size64KB, [55, 42, 29, 16]),
    ])
    func levelShifts(granule: TranslationGranule, shifts: [Int]) {
        #expect((0...3).map(granule.levelShift) == shifts)
        #expect(granule.pageSize == 1 << granule.pageShift)
    }
}
