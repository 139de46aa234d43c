@file:Suppress("unused", "UNUSED_PARAMETER")

package kotlinx.coroutines

import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext

interface Job : CoroutineContext.Element

interface CoroutineScope {
    val coroutineContext: CoroutineContext
}

fun CoroutineScope(context: CoroutineContext): CoroutineScope = TODO()

fun SupervisorJob(): Job = TODO()

object Dispatchers {
    val Main: CoroutineContext get() = TODO()
    val IO: CoroutineContext get() = TODO()
}

fun CoroutineScope.launch(
    context: CoroutineContext = EmptyCoroutineContext,
    block: suspend CoroutineScope.() -> Unit,
): Job = TODO()

fun CoroutineScope.cancel() {}

suspend fun <T> withContext(context: CoroutineContext, block: suspend CoroutineScope.() -> T): T = TODO()

interface CompletableDeferred<T> {
    fun complete(value: T): Boolean

    suspend fun await(): T
}

fun <T> CompletableDeferred(): CompletableDeferred<T> = TODO()
