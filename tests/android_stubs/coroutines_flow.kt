@file:Suppress("unused", "UNUSED_PARAMETER")

package kotlinx.coroutines.flow

fun interface FlowCollector<in T> {
    suspend fun emit(value: T)
}

interface Flow<out T> {
    suspend fun collect(collector: FlowCollector<T>)
}
