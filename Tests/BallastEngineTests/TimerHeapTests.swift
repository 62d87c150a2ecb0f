import BallastEngine
import Testing

@Suite struct TimerHeapTests {
    @Test func popsInDeadlineOrder() {
        var heap = TimerHeap()
        for (slot, deadline) in [50, 10, 40, 20, 30, 10].enumerated() {
            heap.push(.init(deadline: UInt64(deadline), slot: slot, generation: 0))
        }
        #expect(heap.nextDeadline == 10)
        var popped: [UInt64] = []
        while let entry = heap.popDue(now: 1000) { popped.append(entry.deadline) }
        #expect(popped == [10, 10, 20, 30, 40, 50])
        #expect(heap.isEmpty)
    }

    @Test func onlyDueEntriesPop() {
        var heap = TimerHeap()
        heap.push(.init(deadline: 100, slot: 0, generation: 0))
        heap.push(.init(deadline: 200, slot: 1, generation: 0))
        #expect(heap.popDue(now: 99) == nil)
        #expect(heap.popDue(now: 100)?.slot == 0)
        #expect(heap.popDue(now: 150) == nil)
        #expect(heap.count == 1)
    }

    @Test(arguments: [1, 2, 3])
    func randomOrderMatchesSorting(seed: UInt64) {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var heap = TimerHeap()
        var deadlines: [UInt64] = []
        for slot in 0..<2000 {
            let deadline = next() % 10_000
            deadlines.append(deadline)
            heap.push(.init(deadline: deadline, slot: slot, generation: 0))
        }
        var popped: [UInt64] = []
        while let entry = heap.popDue(now: .max) { popped.append(entry.deadline) }
        #expect(popped == deadlines.sorted())
    }
}

extension TimerHeapTests {
    @Test func rebuildKeepsOnlyWhatIsGiven() {
        var heap = TimerHeap()
        for slot in 0..<100 { heap.push(.init(deadline: UInt64(1000 + slot), slot: slot, generation: 0)) }
        heap.rebuild(from: [.init(deadline: 7, slot: 3, generation: 1), .init(deadline: 5, slot: 4, generation: 1)])
        #expect(heap.count == 2)
        #expect(heap.popDue(now: 10)?.slot == 4)
        #expect(heap.popDue(now: 10)?.slot == 3)
        #expect(heap.popDue(now: .max) == nil)
    }
}

@Suite struct BufferPoolTests {
    @Test func reusesBuffersAndKeepsABoundedNumber() {
        var pool = BufferPool(size: 1024, keep: 2)
        let a = pool.take()
        let b = pool.take()
        let c = pool.take()
        pool.give(a)
        pool.give(b)
        pool.give(c)  // over `keep`: freed
        let again = pool.take()
        #expect(again == b || again == a)
        pool.give(again)
        pool.drain()
    }
}
