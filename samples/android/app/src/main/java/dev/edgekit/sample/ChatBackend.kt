package dev.edgekit.sample

import android.content.Context

/** One chat turn at a time, streamed: the two runtimes behind one interface. */
interface ChatBackend : AutoCloseable {
    suspend fun reply(
        userText: String,
        onPartial: (String) -> Unit,
    )

    companion object {
        /** LiteRT-LM when the hand-off has a .litertlm, else MediaPipe with the .task. */
        fun create(
            context: Context,
            config: ModelConfig,
        ): ChatBackend {
            val litertlm = config.litertlmModel
            val task = config.taskModel
            return when {
                litertlm != null -> LiteRtLmChat(config.modelFile(context, litertlm).path, config)
                task != null -> MediaPipeChat(context, config.modelFile(context, task).path, config)
                else -> error("${ModelConfig.ASSET} names no bundle")
            }
        }
    }
}
