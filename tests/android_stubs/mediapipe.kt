@file:Suppress("unused", "UNUSED_PARAMETER")

package com.google.mediapipe.tasks.genai.llminference

import android.content.Context

fun interface ProgressListener<T> {
    fun run(partialResult: T, done: Boolean)
}

class LlmInference private constructor() : AutoCloseable {
    class LlmInferenceOptions private constructor() {
        class Builder {
            fun setModelPath(path: String): Builder = this
            fun setMaxTokens(maxTokens: Int): Builder = this
            fun setMaxTopK(maxTopK: Int): Builder = this
            fun build(): LlmInferenceOptions = TODO()
        }

        companion object {
            @JvmStatic fun builder(): Builder = Builder()
        }
    }

    fun generateResponseAsync(inputText: String, progressListener: ProgressListener<String>): java.util.concurrent.Future<String> = TODO()
    override fun close() {}

    companion object {
        @JvmStatic fun createFromOptions(context: Context, options: LlmInferenceOptions): LlmInference = TODO()
    }
}
